"""Deadlines on reading request bodies, every one of an event loop watched by one timer.

``asyncio.timeout`` around each body read made a timer and cancelled it, some 7 us a
delivery, for a deadline that is all but never reached: a body nearly always arrives with
its headers. Here a read under way is an entry in a dict, and one timer, ticking while
any read is under way, cancels those past their deadline; a stall is noticed within
``TICK`` seconds, or a quarter of the stall if that is shorter.
"""

from __future__ import annotations

import asyncio
import weakref
from types import TracebackType

TICK = 0.1


class Deadline:
    """``async with Deadline(seconds) as deadline:`` raises ``TimeoutError`` if the block
    runs ``seconds`` past its start or its last ``moved()``, as ``asyncio.timeout`` does."""

    __slots__ = ("seconds", "when", "_watch", "_task", "_cancelling", "_expired")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.when = 0.0
        self._expired = False

    async def __aenter__(self) -> Deadline:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None, "a deadline is for a task"
        self._task = task
        self._cancelling = task.cancelling()
        self._watch = _watch_of(loop)
        self.when = loop.time() + self.seconds
        self._watch.add(self, loop)
        return self

    def moved(self) -> None:
        """The block made progress: its deadline is ``seconds`` from now."""
        self.when = asyncio.get_running_loop().time() + self.seconds

    def expire(self) -> None:
        self._expired = True
        self._task.cancel()

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        self._watch.reads.pop(self, None)
        # As asyncio.timeout: only a cancellation of ours, none asked for besides, is a
        # timeout; any other goes on as it is.
        if (self._expired and self._task.uncancel() <= self._cancelling
                and kind is asyncio.CancelledError):
            raise TimeoutError from error


class _Watch:
    """The deadlines under way on one event loop, and the timer that checks them."""

    def __init__(self) -> None:
        self.reads: dict[Deadline, None] = {}
        self.tick = TICK
        self._ticking = False

    def add(self, deadline: Deadline, loop: asyncio.AbstractEventLoop) -> None:
        self.reads[deadline] = None
        self.tick = min(self.tick, deadline.seconds / 4)
        if not self._ticking:
            self._ticking = True
            loop.call_later(self.tick, self._check, loop)

    def _check(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for deadline in [d for d in self.reads if d.when <= now]:
            del self.reads[deadline]
            deadline.expire()
        self._ticking = bool(self.reads)
        if self._ticking:
            loop.call_later(self.tick, self._check, loop)


# A watch holds no loop (the loop's timer holds the watch while it ticks): a loop that is
# done with leaves its watch to go with it.
_watches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Watch]
_watches = weakref.WeakKeyDictionary()


def _watch_of(loop: asyncio.AbstractEventLoop) -> _Watch:
    watch = _watches.get(loop)
    if watch is None:
        watch = _watches[loop] = _Watch()
    return watch
