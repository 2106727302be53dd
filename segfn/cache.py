"""``cache``: values a function keeps between its invocations.

Each deployed source has its own cache, bounded in size and free to evict at any time. The
handler's worker process keeps nothing and opens no file: each ``load`` and ``delete`` is a
``CacheRequest`` to the process that started it, which answers from the source's store
(``segfn.sandbox.cachestore``). Values travel and are stored as JSON text, so a handler
always gets a fresh copy and never an object of another invocation.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import attrs

from segfn.sandbox import scope
from segfn.sandbox.protocol import MAX_WORKER_FRAME

# What the parent accepts, and so what the worker sends: a key of at most this many
# characters, a value of at most this many bytes of JSON text. A quarter of a worker's
# frame: the text travels as a JSON string, whose escapes may double it, so that a set's
# frame, key included, always fits in one.
MAX_KEY_LENGTH = 1024
MAX_VALUE_BYTES = MAX_WORKER_FRAME // 4
OPS = ("get", "set", "delete")


def _check_key(request: CacheRequest, attribute: Any, key: str) -> None:
    if not isinstance(key, str):
        raise TypeError("cache key must be a string")
    if len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"cache key is over {MAX_KEY_LENGTH} characters")


def _check_value(request: CacheRequest, attribute: Any, value: str | None) -> None:
    if (value is None) != (request.op != "set"):
        need = "needs a" if value is None else "takes no"
        raise ValueError(f"a cache {request.op} {need} value")
    if value is None:
        return
    if not isinstance(value, str):
        raise TypeError("a cached value is JSON text")
    # Four bytes a character at most: only a long value needs encoding to be measured.
    if len(value) * 4 > MAX_VALUE_BYTES and len(value.encode("utf-8")) > MAX_VALUE_BYTES:
        raise ValueError(f"cache value is over {MAX_VALUE_BYTES} bytes of JSON")


def _check_expire(request: CacheRequest, attribute: Any, expire: float | None) -> None:
    if expire is None:
        return
    if request.op != "set":
        raise ValueError(f"a cache {request.op} takes no expiry")
    if isinstance(expire, bool) or not isinstance(expire, int | float):
        raise TypeError("a cache expiry is seconds")
    if not (0 < expire < math.inf):
        raise ValueError("a cache expiry is a positive number of seconds")


@attrs.frozen
class CacheRequest:
    """One cache operation a worker asks of its parent: get a key's JSON text, set it for
    ``expire`` seconds (None: no expiry), or delete it. Checked when made, on either side."""

    op: str = attrs.field(validator=attrs.validators.in_(OPS))
    key: str = attrs.field(validator=_check_key)
    value: str | None = attrs.field(default=None, validator=_check_value)
    expire: float | None = attrs.field(default=None, validator=_check_expire)

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, "key": self.key, "value": self.value, "expire": self.expire}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CacheRequest:
        return cls(data["op"], data["key"], data["value"], data["expire"])


@attrs.frozen
class CacheAnswer:
    """The parent's answer: the JSON text a get found (None: a miss), or why it failed."""

    value: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "error": self.error}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CacheAnswer:
        value, error = data["value"], data["error"]
        if not isinstance(value, str | None) or not isinstance(error, str | None):
            raise TypeError("a cache answer holds text")
        return cls(value, error)


# The parent's side: answers one source's requests.
CacheAnswerer = Callable[[CacheRequest], Awaitable[CacheAnswer]]
# The worker's side: sends a request to the parent and waits for its answer.
CacheTransport = Callable[[CacheRequest], CacheAnswer]


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
    if ttl < 0 or math.isnan(ttl) or math.isinf(ttl):
        raise ValueError("cache ttl must be finite milliseconds >= 0, -1 or None")
    return ttl / 1000


class Cache:
    """``cache.load(key, ttl, fn)`` and ``cache.delete(key)``, for the invocation it was
    given to."""

    __slots__ = ("_scope",)

    def __init__(self, running: scope.Scope | None) -> None:
        self._scope = running

    def load(self, key: str, ttl: int | float | timedelta | None, fn: Callable[[], Any]) -> Any:
        """The cached value for ``key``, or ``fn()``'s result kept for ``ttl`` milliseconds."""
        get = CacheRequest("get", key)
        expire = _expiry_seconds(ttl)
        running = scope.live(self._scope)
        if expire != 0:
            stored = _ask(running, get)
            if stored is not None:
                return json.loads(stored)
        value = fn()
        encoded = json.dumps(value, separators=(",", ":"))
        if expire != 0:
            _ask(running, CacheRequest("set", key, encoded, expire))
        return json.loads(encoded)

    def delete(self, key: str) -> None:
        _ask(scope.live(self._scope), CacheRequest("delete", key))

    def __repr__(self) -> str:
        return "<segfn cache>"


def _ask(running: scope.Scope, request: CacheRequest) -> str | None:
    """The value the parent answers; with no parent to ask (a bare ``Executor``), a miss."""
    if running.cache_transport is None:
        return None
    answer = running.cache_transport(request)
    if answer.error is not None:
        raise RuntimeError(f"cache {request.op} failed: {answer.error}")
    return answer.value


# Outside the sandbox; each invocation's namespace has a ``Cache`` of its own.
cache = Cache(None)
