"""Worker pools by tenant: a process only ever runs the code of one function.

A pool of its own per function (of one workspace): every source and version of that
function may share its workers, but two functions, or two workspaces, never share a
process, so a handler that breaks out of the guards finds no other tenant's code, settings
or invocations beside it. Pools start on first use, are closed when idle, and the workers
of all pools together are capped: a new pool over the cap first closes the least recently
used idle pool, or waits until one is idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence

import attrs

from segfn.cache import CacheAnswerer
from segfn.sandbox.invocation import Job, Result
from segfn.sandbox.pool import Fetcher, SandboxUnavailable, WorkerInfo, WorkerPool

IDLE_SECONDS = 300.0


@attrs.frozen
class Tenant:
    """Whose code a pool runs: one function of one workspace. A ``shadow`` pool runs only
    shadow deploys (runner/shadow.py), apart so that live jobs never wait behind them."""

    workspace: str
    function: str
    shadow: bool = False


@attrs.frozen
class TenantWorker:
    """One ready worker and whose code it runs, as an operator sees it."""

    tenant: Tenant
    worker: WorkerInfo


@attrs.define(eq=False)
class _Entry:
    pool: WorkerPool
    started: asyncio.Task[None]
    in_flight: int = 0
    last_used: float = attrs.field(factory=time.monotonic)


PoolFactory = Callable[[Tenant], WorkerPool]


class Fleet:
    """Runs each job in the pool of its tenant, starting and closing pools as needed."""

    def __init__(self, make_pool: PoolFactory, max_workers: int, *,
                 warm: Sequence[Tenant] = (), idle_seconds: float = IDLE_SECONDS) -> None:
        self._make_pool = make_pool
        self._warm = tuple(warm)
        self.max_workers = max_workers
        self.idle_seconds = idle_seconds
        self._entries: dict[Tenant, _Entry] = {}
        self._changed = asyncio.Condition()
        self._waiting = 0
        self._reaper: asyncio.Task[None] | None = None
        self._closing = False
        # Pools being closed, each in a task of its own (see drop).
        self._dropping: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Start the reaper, and the pools of ``warm`` now (a start failure raises)."""
        self._reaper = asyncio.get_running_loop().create_task(self._reap())
        for tenant in self._warm:
            entry = await self._entry(tenant)
            await entry.started

    async def close(self) -> None:
        self._closing = True
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        entries = list(self._entries.values())
        self._entries.clear()
        for entry in entries:
            await _close(entry)
        await asyncio.gather(*self._dropping, return_exceptions=True)

    async def invoke(self, tenant: Tenant, job: Job, fetcher: Fetcher | None = None,
                     cache: CacheAnswerer | None = None) -> Result:
        """Run ``job`` in ``tenant``'s pool (as ``WorkerPool.invoke``); a pool that cannot
        start raises ``SandboxUnavailable`` (the next call tries to start one again)."""
        if self._closing:
            raise RuntimeError("the worker pool is closed")
        entry = await self._entry(tenant)
        entry.in_flight += 1
        try:
            await entry.started
            return await entry.pool.invoke(job, fetcher, cache)
        finally:
            entry.in_flight -= 1
            entry.last_used = time.monotonic()
            if self._waiting:  # the hot path takes no lock when no pool waits for room
                async with self._changed:
                    self._changed.notify_all()

    async def drop(self, tenant: Tenant) -> None:
        """Close ``tenant``'s pool now (its function was deleted)."""
        entry = self._entries.pop(tenant, None)
        if entry is None:
            return
        # Out of the caller's hands: a caller cancelled half-way (the idle reaper, when the
        # fleet closes) must not leave a pool half closed, its workers neither gone nor
        # waited for; close() waits for it instead.
        closing = asyncio.get_running_loop().create_task(_close(entry))
        self._dropping.add(closing)
        closing.add_done_callback(self._dropping.discard)
        await asyncio.shield(closing)

    def workers(self) -> list[TenantWorker]:
        return [TenantWorker(tenant, info) for tenant, entry in self._entries.items()
                for info in entry.pool.workers]

    @property
    def size(self) -> int:
        """Workers of every pool, started or starting."""
        return sum(entry.pool.size for entry in self._entries.values())

    async def _entry(self, tenant: Tenant) -> _Entry:
        while (entry := self._entries.get(tenant)) is None:
            pool = self._make_pool(tenant)
            if pool.size > self.max_workers:
                raise ValueError(f"a pool of {pool.size} workers is over the cap of "
                                 f"{self.max_workers}")
            if self.size + pool.size <= self.max_workers:
                started = asyncio.get_running_loop().create_task(self._start(tenant, pool))
                self._entries[tenant] = _Entry(pool, started)
                continue
            if not await self._evict_one():
                self._waiting += 1
                try:
                    async with self._changed:
                        await self._changed.wait()
                finally:
                    self._waiting -= 1
        return entry

    async def _start(self, tenant: Tenant, pool: WorkerPool) -> None:
        try:
            await pool.start()
        except BaseException as exc:
            # The next job for this tenant tries a fresh pool.
            if (entry := self._entries.get(tenant)) is not None and entry.pool is pool:
                del self._entries[tenant]
            if isinstance(exc, Exception) and not isinstance(exc, SandboxUnavailable):
                raise SandboxUnavailable(f"sandbox workers cannot start: {exc}") from exc
            raise

    async def _evict_one(self) -> bool:
        """Close the least recently used idle pool; False when none is idle."""
        idle = [(e.last_used, t) for t, e in self._entries.items() if e.in_flight == 0]
        if not idle:
            return False
        await self.drop(min(idle, key=lambda pair: pair[0])[1])
        return True

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(min(self.idle_seconds / 4, 30.0))
            cutoff = time.monotonic() - self.idle_seconds
            for tenant, entry in list(self._entries.items()):
                if entry.in_flight == 0 and entry.last_used < cutoff:
                    await self.drop(tenant)


async def _close(entry: _Entry) -> None:
    if not entry.started.done():
        entry.started.cancel()
    with contextlib.suppress(BaseException):
        await entry.started
    await entry.pool.close()
