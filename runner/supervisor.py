"""Background loops that are never silently gone: a crash is logged and the loop restarted.

The delivery and retry loops run for the life of the process. A loop that raises (a
database error, a bug) is logged with its traceback, counted as down while it waits to
restart, and started again after a backoff that doubles up to a minute; ``/healthz``
answers 503 naming the loops that are down, so an operator's monitor sees what the
service cannot do.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

FIRST_RESTART = 0.5
MAX_RESTART = 60.0
# A loop that ran this long before it crashed starts again after the first backoff.
HEALTHY_RUN = 60.0

log = logging.getLogger("segfn.runner")

LoopFactory = Callable[[], Coroutine[Any, Any, None]]


class Supervisor:
    """Runs named loops until closed, restarting each one that crashes."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._down: set[str] = set()
        self.restarts: dict[str, int] = {}

    def start(self, name: str, loop: LoopFactory) -> None:
        if name in self._tasks:
            raise ValueError(f"a loop named {name!r} is running already")
        self.restarts[name] = 0
        self._tasks[name] = asyncio.get_running_loop().create_task(
            self._keep(name, loop), name=f"segfn-{name}")

    @property
    def down(self) -> list[str]:
        """The loops that crashed and have not started again yet."""
        return sorted(self._down)

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _keep(self, name: str, loop: LoopFactory) -> None:
        backoff = FIRST_RESTART
        while True:
            started = asyncio.get_running_loop().time()
            try:
                await loop()
                log.error("the %s loop returned; starting it again", name)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the %s loop crashed; starting it again in %.1f s",
                              name, backoff)
            if asyncio.get_running_loop().time() - started >= HEALTHY_RUN:
                backoff = FIRST_RESTART
            self._down.add(name)
            try:
                await asyncio.sleep(backoff)
            finally:
                self._down.discard(name)
            self.restarts[name] += 1
            backoff = min(backoff * 2, MAX_RESTART)
