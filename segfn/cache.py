"""``cache``: values a function keeps between its invocations.

Each function has its own on-disk cache (diskcache), shared by every worker process that
runs the function, bounded in size and free to evict at any time. Values are stored as
JSON, so a handler always gets a fresh copy and never an object of another invocation.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import diskcache

from segfn.sandbox import scope

SIZE_LIMIT = 64 * 1024 * 1024


def open_cache(directory: str) -> diskcache.Cache:
    return diskcache.Cache(directory, size_limit=SIZE_LIMIT, eviction_policy="least-recently-used")


def _expiry_seconds(ttl: int | float | timedelta | None) -> float | None:
    """Seconds to keep a value (None: no expiry; 0: not kept)."""
    if ttl is None:
        return None
    if isinstance(ttl, timedelta):
        seconds = ttl.total_seconds()
        if seconds < 0:
            raise ValueError("cache ttl must not be negative")
        return seconds
    if isinstance(ttl, bool) or not isinstance(ttl, int | float):
        raise TypeError(f"cache ttl must be milliseconds, a timedelta or None, got {ttl!r}")
    if ttl == -1:
        return None
    if ttl < 0 or math.isnan(ttl):
        raise ValueError("cache ttl must be milliseconds >= 0, -1 or None")
    return ttl / 1000


class Cache:
    """``cache.load(key, ttl, fn)`` and ``cache.delete(key)``, for the invocation it was
    given to."""

    __slots__ = ("_scope",)

    def __init__(self, running: scope.Scope | None) -> None:
        self._scope = running

    def load(self, key: str, ttl: int | float | timedelta | None, fn: Callable[[], Any]) -> Any:
        """The cached value for ``key``, or ``fn()``'s result kept for ``ttl`` milliseconds."""
        if not isinstance(key, str):
            raise TypeError("cache key must be a string")
        expire = _expiry_seconds(ttl)
        store = scope.live(self._scope).cache
        if store is not None and expire != 0:
            stored = store.get(key)
            if stored is not None:
                return json.loads(stored)
        value = fn()
        encoded = json.dumps(value)
        if store is not None and expire != 0:
            store.set(key, encoded, expire=expire)
        return json.loads(encoded)

    def delete(self, key: str) -> None:
        store = scope.live(self._scope).cache
        if store is not None:
            store.delete(key)

    def __repr__(self) -> str:
        return "<segfn cache>"


# Outside the sandbox; each invocation's namespace has a ``Cache`` of its own.
cache = Cache(None)
