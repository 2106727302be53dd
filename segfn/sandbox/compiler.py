"""Compiling handler source with RestrictedPython, with errors that say what to write."""

from __future__ import annotations

import ast
import hashlib
import types

import attrs
from RestrictedPython import compile_restricted_exec

from segfn.errors import InvalidSettings

_TOO_DEEP = "{}: the code is nested too deeply to compile; split long expressions up"


def _source_key(handler: Handler) -> str:
    return hashlib.sha256(f"{handler.filename}\0{handler.source}".encode()).hexdigest()


@attrs.frozen
class Handler:
    """Handler source code and where it came from; ``key`` identifies it in worker caches."""

    source: str
    filename: str = "handler.py"
    # Hashed once: every job carries its handler's key to the worker.
    key: str = attrs.field(default=attrs.Factory(_source_key, takes_self=True), eq=False)


def _check_shape(tree: ast.Module, filename: str) -> None:
    for node in ast.walk(tree):
        if isinstance(node, ast.AsyncFunctionDef):
            if node.name == "on_request":
                raise InvalidSettings(
                    f"{filename}:{node.lineno}: on_request must not be async; handlers are "
                    "synchronous: write def on_request(request, settings):"
                )
            raise InvalidSettings(
                f"{filename}:{node.lineno}: async functions are not supported; write "
                f"def {node.name}(...): and use fetch_all to run requests concurrently"
            )
        if isinstance(node, ast.Await | ast.AsyncFor | ast.AsyncWith):
            raise InvalidSettings(
                f"{filename}:{node.lineno}: await is not supported; fetch() returns the "
                "response directly"
            )
    if not any(isinstance(n, ast.FunctionDef) and n.name == "on_request" for n in tree.body):
        raise InvalidSettings(
            f"{filename}: no on_request function; define def on_request(request, settings):"
        )


def compile_handler(handler: Handler) -> types.CodeType:
    """Compile ``handler`` for the sandbox, or raise ``InvalidSettings`` saying why not."""
    try:
        tree = ast.parse(handler.source, handler.filename)
    except SyntaxError as exc:
        where = f"{handler.filename}:{exc.lineno}" if exc.lineno else handler.filename
        raise InvalidSettings(f"{where}: syntax error: {exc.msg}") from None
    except (RecursionError, MemoryError):
        raise InvalidSettings(_TOO_DEEP.format(handler.filename)) from None
    _check_shape(tree, handler.filename)
    try:
        result = compile_restricted_exec(handler.source, handler.filename)
    except (RecursionError, MemoryError):
        # RestrictedPython's transformer recurses once per nesting level; valid code such as
        # a long chain of ``+`` would otherwise fail as a crash rather than as bad code.
        raise InvalidSettings(_TOO_DEEP.format(handler.filename)) from None
    if result.errors:
        raise InvalidSettings(f"{handler.filename}: " + "; ".join(result.errors))
    return result.code
