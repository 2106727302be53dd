"""Compiling handler source with RestrictedPython, with errors that say what to write."""

from __future__ import annotations

import ast
import hashlib
import re
import types
from collections.abc import Callable, Sequence
from typing import Any, cast

import attrs
from RestrictedPython import RestrictingNodeTransformer, compile_restricted_exec

from segfn.errors import InvalidSettings

_TOO_DEEP = "the code is nested too deeply to compile; split long expressions up"
# The name compiled code calls on every value host code hands it (guards.checked); a
# leading underscore, so that handler code can neither name nor shadow it.
CHECKED = "_checked_"


def _source_key(handler: Handler) -> str:
    return hashlib.sha256(f"{handler.filename}\0{handler.source}".encode()).hexdigest()


class CompileError(InvalidSettings):
    """Handler code that cannot run, each problem with its line (None where no line is
    known): ``FILE:LINE: reason; ...`` as text."""

    def __init__(self, filename: str, problems: Sequence[tuple[int | None, str]]) -> None:
        self.filename = filename
        self.problems = tuple(problems)
        super().__init__("; ".join(f"{self.where(line)}: {reason}"
                                   for line, reason in self.problems))

    def where(self, line: int | None) -> str:
        """``FILE:LINE``, or ``FILE`` when the line is not known."""
        return f"{self.filename}:{line}" if line else self.filename


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
                raise CompileError(filename, [(node.lineno, (
                    "on_request must not be async; handlers are synchronous: write "
                    "def on_request(request, settings):"))])
            raise CompileError(filename, [(node.lineno, (
                f"async functions are not supported; write def {node.name}(...): and use "
                "fetch_all to run requests concurrently"))])
        if isinstance(node, ast.Await | ast.AsyncFor | ast.AsyncWith):
            raise CompileError(filename, [(node.lineno, (
                "await is not supported; fetch() returns the response directly"))])
    if not any(isinstance(n, ast.FunctionDef) and n.name == "on_request" for n in tree.body):
        raise CompileError(filename, [(1, (
            "no on_request function; define def on_request(request, settings): at the "
            "top level"))])


# RestrictedPython's messages ("Line 3: ...") in the words of the others: what is not
# available to functions, and what to write instead where there is something.
_RESTRICTED = re.compile(r"Line (\d+|None): (.*)", re.DOTALL)
_REWORDED: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = tuple(
    (re.compile(pattern), words) for pattern, words in (
        (r'"(\w+)" is an invalid (?:variable|attribute) name because it starts with "_"\.?',
         r'"\1" is not available to functions: it starts with "_", which is the '
         r"sandbox's; rename it"),
        (r'"(\w+)" is an invalid (?:variable|attribute) name because it ends with '
         r'"__roles__"\.?', r'"\1" is not available to functions: it ends with "__roles__"'),
        (r'"(\w+)" is a reserved name\.', r'"\1" is reserved in functions; rename it'),
        (r'"(\w+)" is a restricted name, that is forbidden to access in RestrictedPython\.',
         r'"\1" is not available to functions'),
        (r"(Exec|Eval) calls are not allowed\.",
         lambda m: f"{m.group(1).lower()}() is not available to functions"),
        (r"Augmented assignment of attributes is not allowed\.",
         "obj.name += ... is not available to functions; write obj.name = obj.name + ..."),
        (r"Augmented assignment of object items and slices is not allowed\.",
         "x[key] += ... is not available to functions; write x[key] = x[key] + ..."),
        (r'"\*" imports are not allowed\.',
         "'from ... import *' is not available to functions; import the names you use"),
        (r"(.*) (is|are) not allowed\.", r"\1 \2 not available to functions"),
    ))


def _reworded(error: str) -> tuple[int | None, str]:
    """The line and the reason of one of RestrictedPython's errors, in segfn's words."""
    found = _RESTRICTED.fullmatch(error)
    line, reason = (int(found[1]) if found[1].isdigit() else None, found[2]) if found \
        else (None, error)
    for pattern, words in _REWORDED:
        reason, count = pattern.subn(words, reason, count=1)
        if count:
            break
    return line, reason


def _located(node: ast.AST, where: ast.AST) -> Any:
    # Set by hand rather than by ast.fix_missing_locations, which walks the whole subtree
    # each time: done for every call, that doubled the compile time.
    for field in ("lineno", "col_offset", "end_lineno", "end_col_offset"):
        setattr(node, field, getattr(where, field, None))
    return node


def _check(value: ast.expr) -> ast.Call:
    """``_checked_(value)``."""
    return _located(ast.Call(_located(ast.Name(CHECKED, ast.Load()), value), [value], []),
                    value)


def _recheck(name: str, where: ast.AST) -> ast.Assign:
    """``name = _checked_(name)``, placed at ``where``."""
    return _located(ast.Assign([_located(ast.Name(name, ast.Store()), where)],
                               _check(_located(ast.Name(name, ast.Load()), where))), where)


def _parameters(args: ast.arguments) -> list[str]:
    names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
    names += [a.arg for a in (args.vararg, args.kwarg) if a is not None]
    return names


class _CheckLoads(ast.NodeTransformer):
    """Reads of the given names become ``_checked_(name)``."""

    def __init__(self, names: set[str]) -> None:
        self.names = names

    def visit_Name(self, node: ast.Name) -> ast.expr:
        if isinstance(node.ctx, ast.Load) and node.id in self.names:
            return _check(node)
        return node


class CheckingTransformer(RestrictingNodeTransformer):
    """RestrictedPython's rewriting, plus ``_checked_`` around every value that enters
    handler code from a call rather than through an attribute, item or loop (which the
    guards see already): what a call returns, what a decorator makes, what a ``with``
    binds, and the arguments a function receives, which host code may have chosen when
    it calls back (``map``, ``sorted(key=...)``, a library's hook).
    """

    def visit_Call(self, node: ast.Call) -> ast.AST:
        return _check(cast(ast.expr, super().visit_Call(node)))

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST | list[ast.stmt]:
        node = cast(ast.FunctionDef, super().visit_FunctionDef(node))
        node.body[:0] = [_recheck(name, node) for name in _parameters(node.args)]
        return self._decorated(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST | list[ast.stmt]:
        return self._decorated(cast(ast.ClassDef, super().visit_ClassDef(node)))

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        node = cast(ast.Lambda, super().visit_Lambda(node))
        node.body = _CheckLoads(set(_parameters(node.args))).visit(node.body)
        return node

    def visit_With(self, node: ast.With) -> ast.AST:
        node = cast(ast.With, super().visit_With(node))
        # RestrictedPython has made a tuple target a plain name it unpacks from, first
        # thing in the body; the check goes before that.
        node.body[:0] = [_recheck(item.optional_vars.id, node) for item in node.items
                         if isinstance(item.optional_vars, ast.Name)]
        return node

    @staticmethod
    def _decorated(node: ast.FunctionDef | ast.ClassDef) -> ast.AST | list[ast.stmt]:
        """A decorated definition, followed by a check of what the decorators made."""
        if not node.decorator_list:
            return node
        return [node, _recheck(node.name, node)]


def compile_handler(handler: Handler) -> types.CodeType:
    """Compile ``handler`` for the sandbox, or raise ``CompileError`` saying why not."""
    try:
        tree = ast.parse(handler.source, handler.filename)
    except SyntaxError as exc:
        raise CompileError(handler.filename, [(exc.lineno, f"syntax error: {exc.msg}")]
                           ) from None
    except (RecursionError, MemoryError):
        raise CompileError(handler.filename, [(None, _TOO_DEEP)]) from None
    _check_shape(tree, handler.filename)
    try:
        result = compile_restricted_exec(handler.source, handler.filename,
                                         policy=CheckingTransformer)
    except (RecursionError, MemoryError):
        # RestrictedPython's transformer recurses once per nesting level; valid code such as
        # a long chain of ``+`` would otherwise fail as a crash rather than as bad code.
        raise CompileError(handler.filename, [(None, _TOO_DEEP)]) from None
    if result.errors:
        raise CompileError(handler.filename, [_reworded(e) for e in result.errors])
    # RestrictedPython gives code whenever it reports no error.
    return cast(types.CodeType, result.code)
