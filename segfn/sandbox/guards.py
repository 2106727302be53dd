"""The guards RestrictedPython calls on every attribute, item, write, import and class.

RestrictedPython rewrites handler code so that ``obj.name`` becomes
``_getattr_(obj, "name")``, ``obj[k] = v`` goes through ``_write_(obj)``, and so on. These
functions decide what is allowed. The rule of thumb: a handler may compute with values, but
no path it can walk ever hands it a module, a module's namespace, a frame, a code object or
a traceback. ``checked`` is that rule; every value that comes into handler code from outside
passes it: what an attribute, an item or a loop gives, and (through the compiler's
``_checked_`` calls) what a call returns, what a decorator makes, what a ``with`` binds and
what host code passes to a handler's function.
"""

from __future__ import annotations

import abc
import builtins
import operator
import sys
import types
from collections.abc import Callable, Mapping
from typing import Any

from RestrictedPython.Guards import (
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safe_builtins,
)
from RestrictedPython.transformer import INSPECT_ATTRIBUTES

from segfn.errors import InvalidSettings, SandboxViolation
from segfn.request import URL, FormData, Headers, SearchParams
from segfn.sandbox.compiler import CHECKED
from segfn.sandbox.handler_classes import is_handler_class, is_handler_made, remember
from segfn.sandbox.imports import import_problem
from segfn.sandbox.modules import ModuleProxy, ModuleRegistry
from segfn.settings import Settings

_OPAQUE_TYPES = (types.FrameType, types.TracebackType, types.CodeType, types.ModuleType,
                 types.CellType)
_DANGEROUS_MODULES = frozenset({
    "os", "posix", "nt", "sys", "importlib", "subprocess", "shutil", "socket",
    "ctypes", "gc", "inspect", "io", "_io", "pathlib", "marshal", "pickle", "code", "codeop",
    "threading", "_thread", "signal", "multiprocessing", "runpy", "pty", "resource",
})
_DANGEROUS_BUILTIN_IDS = frozenset(
    id(getattr(builtins, name))
    for name in ("eval", "exec", "compile", "open", "globals", "locals", "vars", "breakpoint",
                 "input", "__import__", "getattr", "setattr", "delattr", "type", "memoryview",
                 "__build_class__")
)
_DENIED_NAMES = INSPECT_ATTRIBUTES | frozenset({
    "mro", "gi_running", "gi_suspended", "cr_running", "cr_suspended", "ag_running",
    "f_lineno", "f_lasti", "tb_lineno", "tb_lasti", "func_globals", "func_code",
})
_FORMAT_NAMES = frozenset({"format", "format_map"})
# ``typing.Mapping.register(str)`` or ``type(settings).register(int)`` would change how
# isinstance answers for every later invocation in the worker, segfn's own code included.
_ABC_REGISTER = abc.ABCMeta.register

_MISSING = object()
# Values of these exact types are plain data. Every call's result passes through
# ``checked``, so these cost it one set lookup.
_PLAIN_TYPES = frozenset({str, int, float, bool, bytes, tuple, list, type(None)})
# Iterating these yields plain data only (characters, ints).
_PLAIN_ITERABLES = frozenset({str, bytes, bytearray, range})


def _refuse(message: str) -> SandboxViolation:
    return SandboxViolation(f"not allowed in a function: {message}")


def _is_namespace(value: dict[Any, Any]) -> bool:
    """``value`` holds a module's globals or an exec() namespace.

    Told apart from data by what the keys hold, not by the keys alone, since a webhook's
    JSON may have any keys: an imported module's namespace is the one ``sys.modules`` has
    under its ``__name__``, or has a ``ModuleSpec`` as ``__spec__``; exec() puts the
    builtins (a module, or a dict of functions) under ``__builtins__``. ``dict.get``, so
    that a dict subclass cannot answer for itself.
    """
    spec = dict.get(value, "__spec__")
    if type(spec) not in _PLAIN_TYPES and not isinstance(spec, dict):
        return True
    name = dict.get(value, "__name__")
    if type(name) is str and (module := sys.modules.get(name)) is not None:
        if getattr(module, "__dict__", None) is value:
            return True
    held = dict.get(value, "__builtins__")
    if isinstance(held, types.ModuleType):
        return True
    return isinstance(held, dict) and any(callable(v) for v in dict.values(held))


def checked(value: Any) -> Any:
    """Refuse any value a handler must never hold."""
    if type(value) in _PLAIN_TYPES:
        return value
    if isinstance(value, _OPAQUE_TYPES):
        raise _refuse(f"access to a {type(value).__name__} object")
    if isinstance(value, dict) and _is_namespace(value):
        # The builtins' namespace holds the real open and __import__; any module's, the
        # module's own imports; and a handler could write into either.
        raise _refuse("the namespace of a module (its globals)")
    if callable(value):
        if id(value) in _DANGEROUS_BUILTIN_IDS:
            raise _refuse(f"the builtin {getattr(value, '__name__', value)!r}")
        if type(value) is types.MethodType and value.__func__ is _ABC_REGISTER:
            raise _refuse("registering virtual subclasses of a shared class")
        if isinstance(value, type) and issubclass(value, type):
            # type(int)("X", (), {...}) would build a class with any dunder methods,
            # past guarded_build_class: an __exit__ receives a traceback, for one.
            raise _refuse("metaclasses")
        owner = getattr(value, "__module__", None)
        if isinstance(owner, str) and owner.split(".")[0] in _DANGEROUS_MODULES:
            raise _refuse(f"access to {owner}")
    return value


def _attr_name(name: Any) -> str:
    """``name`` as a plain ``str``: a handler's ``str`` subclass could override
    ``startswith`` or ``__eq__`` and slip a dunder name past the checks."""
    if type(name) is str:
        return name
    if not isinstance(name, str):
        raise TypeError("attribute name must be a string")
    return str.__str__(name)


def guarded_getattr(obj: Any, name: str, default: Any = _MISSING) -> Any:
    """``obj.name`` as a handler may write it."""
    name = _attr_name(name)
    if name.startswith("_"):
        raise AttributeError(f'"{name}" is an invalid attribute name because it starts with "_"')
    if name in _DENIED_NAMES:
        raise _refuse(f'the attribute "{name}"')
    if isinstance(obj, _OPAQUE_TYPES):
        raise _refuse(f"access to a {type(obj).__name__} object")
    value = getattr(obj, name) if default is _MISSING else getattr(obj, name, default)
    if name in _FORMAT_NAMES and _is_str_format(value):
        raise _refuse("str.format; use an f-string")
    return checked(value)


def _is_str_format(value: Any) -> bool:
    """``str.format`` however it was reached: from a str, a str subclass, or ``super()``.

    Format strings look attributes up (``"{0.__class__}"``) without asking ``_getattr_``.
    """
    if value is str.format or value is str.format_map:
        return True
    return type(value) is types.BuiltinMethodType and isinstance(value.__self__, str)


def guarded_hasattr(obj: Any, name: str) -> bool:
    try:
        guarded_getattr(obj, name)
    except (AttributeError, SandboxViolation):
        return False
    return True


def guarded_getitem(obj: Any, key: Any) -> Any:
    return checked(obj[key])


def guarded_getiter(obj: Any) -> Any:
    """``for x in obj``, comprehensions and unpacking: each item is checked as it comes."""
    obj = checked(obj)
    if type(obj) in _PLAIN_ITERABLES:
        return iter(obj)
    return map(checked, obj)


class _InstanceWriter:
    """What ``_write_`` returns for a handler object: attribute and item writes pass."""

    __slots__ = ("_target",)
    _target: Any

    def __init__(self, target: Any) -> None:
        object.__setattr__(self, "_target", target)

    def __setattr__(self, name: str, value: Any) -> None:
        name = _attr_name(name)
        if name.startswith("_"):
            raise _refuse(f'assigning "{name}"')
        setattr(self._target, name, value)

    def __delattr__(self, name: str) -> None:
        name = _attr_name(name)
        if name.startswith("_"):
            raise _refuse(f'deleting "{name}"')
        delattr(self._target, name)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._target[key] = value

    def __delitem__(self, key: Any) -> None:
        del self._target[key]


_WRITABLE_CONTAINERS = (dict, list, set, bytearray)


def guarded_write(obj: Any) -> Any:
    """Objects a handler may change: containers, and its own classes and their instances."""
    if is_handler_made(obj):
        return _InstanceWriter(obj)
    if isinstance(obj, _WRITABLE_CONTAINERS):
        return obj
    raise _refuse(f"changing a {type(obj).__name__} object")


def guarded_setattr(obj: Any, name: str, value: Any) -> None:
    setattr(guarded_write(obj), name, value)


def guarded_delattr(obj: Any, name: str) -> None:
    delattr(guarded_write(obj), name)


_ALLOWED_BASES = frozenset({object, dict, list, set, str, int, float, tuple, frozenset})


def guarded_build_class(func: Callable[..., Any], name: str, *bases: Any, **kwargs: Any) -> type:
    """``class X(...)`` in handler code: no metaclass, only plain or handler-made bases."""
    # RestrictedPython rewrites every ``class X:`` to ``class X(metaclass=__metaclass__):``,
    # and ``__metaclass__`` is ``type`` in the restricted globals; anything else is refused.
    if kwargs.pop("metaclass", type) is not type:
        raise _refuse("metaclasses")
    if kwargs:
        raise _refuse(f"class keywords ({', '.join(kwargs)})")
    for base in bases:
        if not isinstance(base, type):
            raise _refuse(f"a class whose base is not a class: {base!r}")
        if issubclass(base, type):
            raise _refuse("metaclasses")
        if is_handler_class(base) or base in _ALLOWED_BASES:
            continue
        if issubclass(base, BaseException) or base.__module__ not in _DANGEROUS_MODULES:
            if type(base) is not type:
                raise _refuse(f"subclassing {base.__name__}, which has a metaclass")
            continue
        raise _refuse(f"subclassing {base.__name__}")
    cls = builtins.__build_class__(func, name, *bases)
    remember(cls)
    return cls


# Classes ``type()`` gives besides the handler's own and those of the exposed modules: the
# classes of what on_request is given and reads from it, and the classes of the values
# builtins make (None, views, iterators), none of which builds anything new.
_SDK_VALUE_CLASSES = frozenset({Settings, Headers, URL, FormData, SearchParams})
_BUILTIN_VALUES: tuple[Any, ...] = (
    None, NotImplemented, ..., iter([]), iter(()), iter(""), iter(b""), iter(set()),
    iter(range(0)), reversed([]), iter({}), {}.keys(), {}.values(), {}.items(),
    iter({}.values()), iter({}.items()))
_BUILTIN_VALUE_CLASSES = frozenset({types.GeneratorType,
                                    *(type(value) for value in _BUILTIN_VALUES)})
_BUILTIN_EXCEPTIONS = frozenset(value for value in vars(builtins).values()
                                if isinstance(value, type) and issubclass(value, BaseException))


def _make_type(registry: ModuleRegistry, names: Mapping[str, Any]) -> Callable[[Any], type]:
    known = (_SDK_VALUE_CLASSES | _BUILTIN_VALUE_CLASSES | _BUILTIN_EXCEPTIONS
             | {value for value in names.values() if isinstance(value, type)})

    def guarded_type(obj: Any) -> type:
        """``type(x)``: the handler's own classes and those it can name, nothing else. A
        private class may build what its public face does not (``typing._GenericAlias``
        takes the name its copy looks up). The three-argument form, which builds classes,
        is not available, and neither is the type of a class (its metaclass)."""
        cls = checked(type(obj))
        if cls in known or is_handler_class(cls) or cls in registry.classes():
            return cls
        raise _refuse(
            "type() gives only the function's own classes and the classes it can import, "
            f"not {cls.__module__}.{cls.__qualname__}; use isinstance(value, SomeClass) to "
            "test what a value is")

    return guarded_type


_INPLACE = {
    "+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
    "//=": operator.ifloordiv, "%=": operator.imod, "**=": operator.ipow,
    "<<=": operator.ilshift, ">>=": operator.irshift, "&=": operator.iand,
    "|=": operator.ior, "^=": operator.ixor, "@=": operator.imatmul,
}


def guarded_inplacevar(op: str, target: Any, value: Any) -> Any:
    return checked(_INPLACE[op](target, value))


def _apply(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


def _make_import(registry: ModuleRegistry) -> Callable[..., Any]:
    def guarded_import(name: str, globals: Any = None, locals: Any = None,
                       fromlist: Any = (), level: int = 0) -> ModuleProxy:
        problem = import_problem(registry, name, fromlist, level)
        if problem is not None:
            raise InvalidSettings(problem)
        proxy = registry.proxy(name)
        if fromlist:
            return proxy
        return registry.proxy(name.split(".")[0])

    return guarded_import


_EXTRA_BUILTINS: dict[str, Any] = {
    name: getattr(builtins, name)
    for name in ("all", "any", "bytes", "dict", "enumerate", "filter", "format", "frozenset",
                 "list", "map", "max", "min", "reversed", "set", "sorted", "sum", "tuple",
                 "zip", "bin", "iter", "next", "object", "property", "staticmethod",
                 "classmethod", "super", "bytearray", "Exception", "NotImplemented",
                 "LookupError", "StopAsyncIteration", "ConnectionError", "TimeoutError")
}


def make_builtins(registry: ModuleRegistry) -> dict[str, Any]:
    """The builtins every invocation's namespace starts from (shared, never mutated)."""
    allowed = dict(safe_builtins)
    allowed.update(_EXTRA_BUILTINS)
    allowed.update(
        __build_class__=guarded_build_class,
        __import__=_make_import(registry),
        getattr=guarded_getattr,
        hasattr=guarded_hasattr,
        setattr=guarded_setattr,
        delattr=guarded_delattr,
        dir=lambda obj: [n for n in dir(obj) if not n.startswith("_")],
    )
    allowed["type"] = _make_type(registry, allowed)
    return allowed


def restricted_globals(registry: ModuleRegistry) -> Mapping[str, Any]:
    """The hooks RestrictedPython's rewritten code calls, by the names it calls them."""
    return {
        "__builtins__": make_builtins(registry),
        "__metaclass__": type,
        "_getattr_": guarded_getattr,
        "_getitem_": guarded_getitem,
        "_getiter_": guarded_getiter,
        "_write_": guarded_write,
        "_inplacevar_": guarded_inplacevar,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_unpack_sequence_": guarded_unpack_sequence,
        "_apply_": _apply,
        CHECKED: checked,
        # ``_print_`` is each invocation's own (``segfn.console.printer``), as are the SDK's
        # objects: see ``segfn.sandbox.execute``.
    }
