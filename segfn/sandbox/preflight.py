"""Checking a handler before it is served: that it compiles for the sandbox (see
``compiler.compile_handler``) and that every module it imports is exposed.

An import is otherwise refused only when it runs, which for one inside ``on_request`` is
at the first delivery; checked here, it is refused before any delivery arrives, in the
words and by the rule of the sandbox's own ``__import__`` (``imports.import_problem``).
"""

from __future__ import annotations

import ast

from segfn.sandbox.compiler import CompileError, Handler, compile_handler
from segfn.sandbox.imports import import_problem
from segfn.sandbox.modules import ModuleRegistry


def _imports(tree: ast.Module) -> list[tuple[int, str, list[str], int]]:
    """Every import statement's line and ``__import__`` arguments: module, names, level."""
    found: list[tuple[int, str, list[str], int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, [], 0) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, node.module or "", [a.name for a in node.names],
                          node.level))
    return found


def check_handler(handler: Handler, registry: ModuleRegistry) -> None:
    """Raise ``CompileError`` naming each problem that would stop ``handler`` running."""
    compile_handler(handler)
    problems = []
    for line, name, names, level in _imports(ast.parse(handler.source, handler.filename)):
        problem = import_problem(registry, name, names, level)
        if problem is not None:
            problems.append((line, problem))
    if problems:
        raise CompileError(handler.filename, problems)
