"""The state of one running invocation, found through a context variable.

``Segment``, ``cache``, ``fetch`` and ``console`` are single objects a handler imports or
finds in its namespace; each call looks up the invocation it belongs to here, so several
invocations can run at once in one worker process without sharing anything.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import attrs

MAX_LOG_BYTES = 64 * 1024
LOG_TRUNCATED = " [logs truncated at 64 KiB]"

FetchTransport = Callable[[list[dict[str, Any]], float], list[dict[str, Any]]]


@attrs.define
class Scope:
    """What one invocation has emitted and logged so far, and where its fetches go."""

    invocation_id: str
    deadline: float
    fetch_transport: FetchTransport | None = None
    cache: Any = None
    messages: list[dict[str, Any]] = attrs.field(factory=list)
    objects: list[dict[str, Any]] = attrs.field(factory=list)
    logs: list[str] = attrs.field(factory=list)
    log_bytes: int = 0
    sequence: int = 0

    def next_sequence(self) -> int:
        current = self.sequence
        self.sequence += 1
        return current

    def log(self, line: str) -> None:
        """Keep a log line while the invocation's logs are under ``MAX_LOG_BYTES``.

        The line that does not fit is cut to fit and marked with ``LOG_TRUNCATED``; every
        later line is dropped.
        """
        if self.log_bytes > MAX_LOG_BYTES:
            return
        data = line.encode("utf-8", "replace")
        room = MAX_LOG_BYTES - self.log_bytes
        if len(data) > room:
            line = (data[:room].decode("utf-8", "ignore") + LOG_TRUNCATED).lstrip()
        # Past the limit once truncated, so the marker is written only once.
        self.log_bytes += len(data)
        self.logs.append(line)

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)


_current: contextvars.ContextVar[Scope] = contextvars.ContextVar("segfn_scope")


def current() -> Scope:
    """The running invocation's scope; outside one, a clear error."""
    try:
        return _current.get()
    except LookupError:
        raise RuntimeError(
            "no segfn invocation is running: call handlers through segfn invoke, "
            "segfn run or the pytest plugin"
        ) from None


@contextmanager
def entered(scope: Scope) -> Iterator[Scope]:
    token = _current.set(scope)
    try:
        yield scope
    finally:
        _current.reset(token)
