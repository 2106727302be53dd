"""``console`` and ``print``: what a handler writes becomes the invocation's logs."""

from __future__ import annotations

from typing import Any

from segfn.sandbox import scope


def _line(values: tuple[Any, ...], sep: str = " ") -> str:
    return sep.join(str(value) for value in values)


class Console:
    """The JavaScript-style console: one log entry per call."""

    __slots__ = ()

    def log(self, *values: Any) -> None:
        scope.current().log(_line(values))

    def info(self, *values: Any) -> None:
        scope.current().log(_line(values))

    def warn(self, *values: Any) -> None:
        scope.current().log("WARN: " + _line(values))

    def error(self, *values: Any) -> None:
        scope.current().log("ERROR: " + _line(values))

    def __repr__(self) -> str:
        return "<segfn console>"


console = Console()


class PrintCollector:
    """RestrictedPython's hook for ``print``: each call is one log entry."""

    __slots__ = ()

    def __init__(self, _getattr_: Any = None) -> None:
        pass

    def _call_print(self, *values: Any, sep: str | None = " ", end: str | None = "\n",
                    file: Any = None, flush: bool = False) -> None:
        scope.current().log(_line(values, " " if sep is None else str(sep)))

    def __call__(self) -> str:
        return ""
