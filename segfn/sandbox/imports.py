"""Checking a handler's imports before it runs, as the sandbox checks them when it does.

The sandbox refuses an import when the line runs; a service that saves code checks every
import statement at save instead, so that a version that cannot run is never saved. The
check asks the sandbox's own ``__import__``, so both refuse the same imports with the
same message.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from segfn.errors import InvalidSettings
from segfn.sandbox.compiler import Handler
from segfn.sandbox.execute import sandbox_registry
from segfn.sandbox.guards import make_builtins


class ImportChecker:
    """Refuses what the sandbox, with the operator's extra ``modules``, refuses to import."""

    def __init__(self, modules: Mapping[str, Iterable[str]] | None = None) -> None:
        self._import: Callable[..., Any] = make_builtins(sandbox_registry(modules))["__import__"]

    def check(self, handler: Handler) -> None:
        """Raise ``InvalidSettings`` (``FILE:LINE: message``) at the first import refused.

        Every import statement counts, even one that a run might never reach: it would
        fail the invocation that reaches it.
        """
        try:
            tree = ast.parse(handler.source, handler.filename)
        except (SyntaxError, RecursionError, MemoryError):
            return  # compile_handler says why
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    self._try(handler, node, alias.name, (), 0)
            elif isinstance(node, ast.ImportFrom):
                self._try(handler, node, node.module or "",
                          tuple(alias.name for alias in node.names), node.level)

    def _try(self, handler: Handler, node: ast.stmt, name: str, fromlist: tuple[str, ...],
             level: int) -> None:
        try:
            self._import(name, None, None, fromlist, level)
        except InvalidSettings as exc:
            raise InvalidSettings(f"{handler.filename}:{node.lineno}: {exc}") from None
