"""The read-only ``settings`` mapping a handler receives."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

from segfn.errors import InvalidSettings

_MISSING = object()
# Values a handler cannot change, so the copy of the settings need not copy them.
_IMMUTABLE = frozenset({str, int, float, bool, type(None)})
# Where ``segfn run`` and ``segfn invoke`` take setting values from.
SETTINGS_OPTION = "--settings FILE (a JSON object)"


class Settings(Mapping[str, Any]):
    """A source's setting values: ``settings["apiKey"]``, ``settings.apiKey``, ``.get()``.

    Reading a setting that is not there raises ``InvalidSettings`` naming it and
    ``given_in``, where the values come from (``--settings FILE``, a source's settings).
    """

    __slots__ = ("_values", "_given_in")

    def __init__(self, values: Mapping[str, Any], given_in: str = SETTINGS_OPTION) -> None:
        object.__setattr__(self, "_values", _copy(values))
        object.__setattr__(self, "_given_in", given_in)

    def __getitem__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise InvalidSettings(f"setting {name!r} is not set; give it in "
                                  f"{self._given_in}") from None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def __setattr__(self, name: str, value: Any) -> None:
        raise TypeError("settings are read-only")

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def get(self, name: str, default: Any = None) -> Any:
        return self._values.get(name, default)

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self._values)

    def __repr__(self) -> str:
        return f"<settings {sorted(self._values)}>"


def _copy(values: Mapping[str, Any]) -> dict[str, Any]:
    # Most sources' settings are strings and flags: a shallow copy of those is a deep one,
    # and costs a fraction of ``deepcopy`` on every invocation.
    shallow = dict(values)
    if all(type(value) in _IMMUTABLE for value in shallow.values()):
        return shallow
    return copy.deepcopy(shallow)
