"""``console`` and ``print``: what a handler writes becomes the invocation's logs."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from segfn.sandbox import scope


def _line(values: tuple[Any, ...], sep: str = " ") -> str:
    return sep.join(str(value) for value in values)


class Console:
    """The JavaScript-style console: one log entry per call, in the invocation it was
    given to."""

    __slots__ = ("_scope",)

    def __init__(self, running: scope.Scope | None) -> None:
        self._scope = running

    def log(self, *values: Any) -> None:
        scope.live(self._scope).log(_line(values))

    def info(self, *values: Any) -> None:
        scope.live(self._scope).log(_line(values))

    def warn(self, *values: Any) -> None:
        scope.live(self._scope).log("WARN: " + _line(values))

    def error(self, *values: Any) -> None:
        scope.live(self._scope).log("ERROR: " + _line(values))

    def __repr__(self) -> str:
        return "<segfn console>"


# Outside the sandbox; each invocation's namespace has a ``Console`` of its own.
console = Console(None)


class PrintCollector:
    """RestrictedPython's hook for ``print``: each call is one log entry.

    RestrictedPython makes one per function that prints, by calling the namespace's
    ``_print_`` with ``_getattr_``: ``printer(running)`` is that hook for one invocation.
    """

    __slots__ = ("_scope",)

    def __init__(self, running: scope.Scope, _getattr_: Any = None) -> None:
        self._scope = running

    def _call_print(self, *values: Any, sep: str | None = " ", end: str | None = "\n",
                    file: Any = None, flush: bool = False) -> None:
        scope.live(self._scope).log(_line(values, " " if sep is None else str(sep)))

    def __call__(self) -> str:
        return ""


def printer(running: scope.Scope) -> Callable[..., PrintCollector]:
    """The ``_print_`` hook of one invocation's namespace."""
    return functools.partial(PrintCollector, running)
