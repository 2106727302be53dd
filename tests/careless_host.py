"""A careless host module, exposed to handlers only by tests/test_guard_depth.py.

Each function hands handler code a dangerous object by a different road: a return value,
an exception attribute, an item of what it returns, a callback's argument, a context
manager, a decorator. The sandbox must stop each one however the module is written: the
guards cannot rely on every host function an operator exposes being careful.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from typing import Any


def namespace() -> dict[str, Any]:
    return vars(builtins)


def module_namespace() -> dict[str, Any]:
    return vars(json)


def builtin(name: str) -> Any:
    return getattr(builtins, name)


def digest_with(name: str) -> bytes:
    """The original ``verify_hmac`` mistake: ``digest_with("__builtins__")`` raises an
    AttributeError whose ``obj`` is the builtins dict."""
    return hmac.new(b"k", b"x", getattr(hashlib, name)).digest()


def raising() -> None:
    raise LookupError("the namespace", vars(builtins))


def pair() -> tuple[int, dict[str, Any]]:
    return 1, vars(builtins)


def call_with(callback: Callable[[Any], Any]) -> Any:
    return callback(vars(builtins))


@contextlib.contextmanager
def entered() -> Iterator[dict[str, Any]]:
    yield vars(builtins)


def as_eval(func: Callable[..., Any]) -> Any:
    return builtins.eval


class _Private:
    """A class no exposed name leads to."""


def private() -> _Private:
    return _Private()


NAMES = ("namespace", "module_namespace", "builtin", "digest_with", "raising", "pair",
         "call_with", "entered", "as_eval", "private")
