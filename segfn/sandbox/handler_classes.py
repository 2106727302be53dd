"""The classes handler code has defined, which its code may change and copy freely."""

from __future__ import annotations

import weakref
from typing import Any

_classes: weakref.WeakSet[type] = weakref.WeakSet()


def remember(cls: type) -> None:
    """Note ``cls`` as made by a handler (``guarded_build_class`` does, for every class)."""
    _classes.add(cls)


def is_handler_class(cls: type) -> bool:
    return cls in _classes


def is_handler_made(obj: Any) -> bool:
    """``obj`` is a handler's class, or an instance of one or of a subclass of one."""
    if isinstance(obj, type):
        return obj in _classes
    return any(c in _classes for c in type(obj).__mro__)
