"""Which import statements handler code may run, as one rule: the sandbox's ``__import__``
(``guards``) and the check before a handler is served (``preflight``) both ask it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from segfn.sandbox.modules import ModuleRegistry

_FETCH = "; fetch(url, ...) makes HTTP requests, with no import"
# What to use for modules people reach for that functions do without.
_INSTEAD = {"requests": _FETCH, "httpx": _FETCH, "aiohttp": _FETCH, "urllib3": _FETCH,
            "urllib.request": _FETCH, "http": _FETCH,
            "logging": "; console.log(...) and print(...) write log lines, with no import"}


def unavailable(name: str, available: Iterable[str]) -> str:
    """Why ``import name`` is refused, with what to use instead when there is something."""
    instead = _INSTEAD.get(name.split(".")[0]) or _INSTEAD.get(name, "")
    return (f"module {name!r} is not available to functions{instead}; available: "
            + ", ".join(available))


def import_problem(registry: ModuleRegistry, name: str, fromlist: Iterable[Any] = (),
                   level: int = 0) -> str | None:
    """Why an import statement is refused (given ``__import__``'s arguments), or None."""
    if level:
        return "relative imports are not available to functions"
    if not registry.is_exposed(name):
        return unavailable(name, registry.names())
    for attr in fromlist or ():
        if not isinstance(attr, str) or attr == "*":
            return f"'from {name} import *' is not available to functions"
        if attr not in dir(registry.proxy(name)):
            return f"{name}.{attr} is not available to functions"
    return None
