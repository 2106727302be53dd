"""Background loops that are never silently gone: a crash is logged and the loop restarted.

The delivery and retry loops run for the life of the process. A loop that raises (a
database error, a bug) is logged with its traceback, counted as down while it waits to
restart, and started again after a backoff that doubles up to a minute. A loop that
survives its faults itself (a delivery lane on a full disk) says so with ``failing`` and
``count``. ``/healthz`` answers 503 naming the loops that are down or failing, so an
operator's monitor sees what the service cannot do; ``on_failure`` hears each failure, by
loop name, for the metrics.
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

    def __init__(self, on_failure: Callable[[str], None] | None = None) -> None:
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._down: set[str] = set()
        self._failing: dict[str, Callable[[], bool]] = {}
        self._on_failure = on_failure
        self.restarts: dict[str, int] = {}

    def start(self, name: str, loop: LoopFactory,
              failing: Callable[[], bool] | None = None) -> None:
        """Run ``loop`` as ``name``; ``failing`` says whether it is failing while it runs."""
        if name in self._tasks:
            raise ValueError(f"a loop named {name!r} is running already")
        self.restarts[name] = 0
        if failing is not None:
            self._failing[name] = failing
        self._tasks[name] = asyncio.get_running_loop().create_task(
            self._keep(name, loop), name=f"segfn-{name}")

    def count(self, name: str) -> None:
        """A failure the loop ``name`` survived by itself (and logged)."""
        if self._on_failure is not None:
            self._on_failure(name)

    @property
    def down(self) -> list[str]:
        """The loops that crashed and have not started again yet, or say they are failing."""
        failing = {name for name, probe in self._failing.items() if probe()}
        return sorted(self._down | failing)

    async def stop(self, name: str) -> None:
        """Stop the loop ``name`` (it is cancelled where it waits)."""
        task = self._tasks.pop(name, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

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
                self.count(name)
            if asyncio.get_running_loop().time() - started >= HEALTHY_RUN:
                backoff = FIRST_RESTART
            self._down.add(name)
            try:
                await asyncio.sleep(backoff)
            finally:
                self._down.discard(name)
            self.restarts[name] += 1
            backoff = min(backoff * 2, MAX_RESTART)
