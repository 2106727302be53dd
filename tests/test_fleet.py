"""Worker pools by tenant, with real worker processes: no process runs two tenants' code,
pools start on demand and stop when idle, and the workers of all pools stay under the cap."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from segfn.fetch import FetchAnswer, FetchRequest
from segfn.sandbox.compiler import Handler
from segfn.sandbox.fleet import Fleet, Tenant
from segfn.sandbox.invocation import HttpRequest, Job
from segfn.sandbox.pool import Limits, SandboxUnavailable, WorkerPool

LIMITS = Limits(timeout=5.0, grace=0.5)
ACME = Tenant("ws_acme", "fn_billing")
GLOBEX = Tenant("ws_globex", "fn_billing2")
INITECH = Tenant("ws_initech", "fn_orders")

TRACK = """
def on_request(request, settings):
    Segment.track({"userId": "1", "event": "Ran"})
"""
FETCH = """
def on_request(request, settings):
    fetch("https://api.example.com/slow")
    Segment.track({"userId": "1", "event": "Fetched"})
"""


def job(source: str = TRACK) -> Job:
    return Job(Handler(textwrap.dedent(source), "handler.py"),
               HttpRequest(b"{}", [("Content-Type", "application/json")]), {})


def fleet(max_workers: int, per_pool: int = 1, **kwargs: Any) -> Fleet:
    return Fleet(lambda tenant: WorkerPool(per_pool, LIMITS), max_workers, **kwargs)


def run(main: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(main())


def pids_by_tenant(workers: Fleet) -> dict[Tenant, set[int]]:
    found: dict[Tenant, set[int]] = {}
    for info in workers.workers():
        found.setdefault(info.tenant, set()).add(info.worker.pid)
    return found


def test_two_tenants_never_share_a_process() -> None:
    async def main() -> None:
        workers = fleet(max_workers=4, per_pool=2)
        await workers.start()
        try:
            for tenant in (ACME, GLOBEX, ACME, GLOBEX):
                assert (await workers.invoke(tenant, job())).ok
            found = pids_by_tenant(workers)
            assert set(found) == {ACME, GLOBEX}
            assert len(found[ACME]) == 2 and len(found[GLOBEX]) == 2
            assert not found[ACME] & found[GLOBEX]
        finally:
            await workers.close()

    run(main)


def test_the_least_recently_used_idle_pool_makes_room() -> None:
    async def main() -> None:
        workers = fleet(max_workers=2)
        await workers.start()
        try:
            await workers.invoke(ACME, job())
            await workers.invoke(GLOBEX, job())
            await workers.invoke(ACME, job())  # GLOBEX is now the least recently used
            (globex_pid,) = pids_by_tenant(workers)[GLOBEX]
            assert (await workers.invoke(INITECH, job())).ok
            found = pids_by_tenant(workers)
            assert set(found) == {ACME, INITECH}
            assert workers.size == 2
            assert (await workers.invoke(GLOBEX, job())).ok
            assert pids_by_tenant(workers)[GLOBEX] != {globex_pid}
        finally:
            await workers.close()

    run(main)


def test_a_new_pool_over_the_cap_waits_for_one_to_be_idle() -> None:
    async def main() -> None:
        release = asyncio.Event()
        fetching = asyncio.Event()
        sizes: list[int] = []

        async def slow_fetch(requests: list[FetchRequest], budget: float
                             ) -> list[FetchAnswer]:
            fetching.set()
            await release.wait()
            return [FetchAnswer(200, r.url) for r in requests]

        workers = fleet(max_workers=1)
        await workers.start()
        try:
            busy = asyncio.create_task(workers.invoke(ACME, job(FETCH), slow_fetch))
            await asyncio.wait_for(fetching.wait(), 10)
            waiting = asyncio.create_task(workers.invoke(GLOBEX, job()))
            for _ in range(20):
                await asyncio.sleep(0.01)
                sizes.append(workers.size)
            assert not waiting.done()
            assert set(pids_by_tenant(workers)) == {ACME}
            release.set()
            assert (await busy).ok
            assert (await waiting).ok
            sizes.append(workers.size)
            assert max(sizes) == 1
            assert set(pids_by_tenant(workers)) == {GLOBEX}
        finally:
            await workers.close()

    run(main)


def test_idle_pools_are_closed() -> None:
    async def main() -> None:
        workers = fleet(max_workers=2, idle_seconds=0.2)
        await workers.start()
        try:
            await workers.invoke(ACME, job())
            (pid,) = pids_by_tenant(workers)[ACME]
            for _ in range(200):
                if not workers.workers():
                    break
                await asyncio.sleep(0.05)
            assert workers.workers() == []
            assert (await workers.invoke(ACME, job())).ok
            assert pids_by_tenant(workers)[ACME] != {pid}
        finally:
            await workers.close()

    run(main)


class RecordedPool(WorkerPool):
    """A pool that says whether its close() ran to the end."""

    closed = False

    async def close(self) -> None:
        await super().close()
        self.closed = True


def test_a_pool_being_dropped_when_the_fleet_closes_is_closed_all_the_way() -> None:
    pools: list[RecordedPool] = []

    def make_pool(tenant: Tenant) -> WorkerPool:
        pools.append(RecordedPool(1, LIMITS))
        return pools[-1]

    async def main() -> None:
        workers = Fleet(make_pool, 2)
        await workers.start()
        await workers.invoke(ACME, job())
        # As the idle reaper does when close() cancels it: the drop is under way, its
        # worker killed but not yet gone.
        dropping = asyncio.create_task(workers.drop(ACME))
        await asyncio.sleep(0)
        dropping.cancel()
        await workers.close()

    run(main)
    assert [pool.closed for pool in pools] == [True]


def test_a_pool_that_cannot_start_is_unavailable_and_is_tried_again(monkeypatch) -> None:
    attempts: list[Tenant] = []

    def make_pool(tenant: Tenant) -> WorkerPool:
        attempts.append(tenant)
        return WorkerPool(1, LIMITS)

    # Workers that exit at once, before they are ready.
    monkeypatch.setattr(sys, "executable", "/bin/false")

    async def main() -> None:
        workers = Fleet(make_pool, max_workers=2)
        await workers.start()
        try:
            with pytest.raises(SandboxUnavailable, match="failed to start"):
                await workers.invoke(ACME, job())
            with pytest.raises(SandboxUnavailable, match="failed to start"):
                await workers.invoke(ACME, job())
            assert attempts == [ACME, ACME]
            assert workers.workers() == []
        finally:
            await workers.close()

    run(main)


def test_warm_pools_start_with_the_fleet() -> None:
    async def main() -> None:
        workers = fleet(max_workers=1, warm=(ACME,))
        await workers.start()
        try:
            assert set(pids_by_tenant(workers)) == {ACME}
        finally:
            await workers.close()

    run(main)
