"""The state of one running invocation, held by the SDK objects given to it.

Each invocation's namespace gets its own ``Segment``, ``cache``, ``fetch``, ``console`` and
``print``, each holding that invocation's ``Scope``: nothing is looked up from the thread or
context that happens to run a call. Code of a handler can outlive its invocation (a
generator the garbage collector finalizes later, in whichever invocation's thread triggers
it); once the invocation has ended its objects refuse to act instead of acting on
whatever runs now.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from segfn.cache import CacheTransport
    from segfn.fetch import FetchTransport

MAX_LOG_BYTES = 64 * 1024
LOG_TRUNCATED = " [logs truncated at 64 KiB]"


@attrs.define
class Scope:
    """What one invocation has emitted and logged so far, and where its fetches and cache
    calls go."""

    invocation_id: str
    deadline: float
    fetch_transport: FetchTransport | None = None
    cache_transport: CacheTransport | None = None
    messages: list[dict[str, Any]] = attrs.field(factory=list)
    objects: list[dict[str, Any]] = attrs.field(factory=list)
    logs: list[str] = attrs.field(factory=list)
    log_bytes: int = 0
    sequence: int = 0
    ended: bool = False

    def end(self) -> None:
        """From now on, every SDK object bound to this scope refuses to act."""
        self.ended = True

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


def live(running: Scope | None) -> Scope:
    """``running`` if its invocation is still going; otherwise a clear error.

    ``None`` is the scope of the objects ``from segfn import ...`` gives outside the
    sandbox (an editor, a test calling a handler directly).
    """
    if running is None:
        raise RuntimeError(
            "no segfn invocation is running: call handlers through segfn invoke, "
            "segfn run or the pytest plugin"
        )
    if running.ended:
        raise RuntimeError("this invocation has ended: segfn objects act only within the "
                           "invocation they were given to")
    return running
