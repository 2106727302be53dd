"""The worker pool with real worker processes: results, isolation, limits, crashes, scaling."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import signal
import sys
import textwrap
import time
from collections.abc import Iterator
from typing import Any

import pytest

from segfn.fetch import FetchAnswer, FetchRequest
from segfn.sandbox.compiler import Handler
from segfn.sandbox.egress import Egress, EgressPolicy
from segfn.sandbox.invocation import HttpRequest, Job, Result
from segfn.sandbox.pool import BlockingPool, Limits, SandboxUnavailable, WorkerPool
from tests.conftest import SHORT
from tests.local_http import LocalServer, local_server


def job(source: str, settings: dict[str, Any] | None = None, **kwargs: Any) -> Job:
    return Job(Handler(textwrap.dedent(source), "handler.py"),
               HttpRequest(b'{"n": 1}', [("Content-Type", "application/json")]),
               settings or {}, **kwargs)


@pytest.fixture
def pool(short_pool: BlockingPool) -> BlockingPool:
    """The session's pool whose limits are ``SHORT``."""
    return short_pool


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with local_server() as running:
        yield running


def wait_for(condition: Any, seconds: float = 5.0) -> None:
    """Poll ``condition`` until true: replacements start in the background."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


# Results, logs and emission


def test_results_and_logs_come_back(pool: BlockingPool) -> None:
    result = pool.invoke(job("""
        def on_request(request, settings):
            print("body", request.json()["n"])
            console.log("a", "b")
            Segment.track({"userId": "1", "event": "Thing Happened"})
            Segment.set({"collection": "things", "id": "t1", "properties": {"n": 1}})
    """))
    assert result.ok, result.error
    assert result.logs == ["body 1", "a b"]
    assert [m["event"] for m in result.tracks] == ["Thing Happened"]
    assert result.objects[0]["id"] == "t1"


def test_a_handler_that_raises_emits_nothing_but_keeps_its_logs(pool: BlockingPool) -> None:
    result = pool.invoke(job("""
        def on_request(request, settings):
            Segment.track({"userId": "1", "event": "Emitted Before The Error"})
            Segment.set({"collection": "things", "id": "t1", "properties": {}})
            console.log("about to fail")
            raise KeyError("boom")
    """))
    assert result.error is not None and result.error.type == "BadRequest"
    assert result.error.located == "handler.py:6: KeyError: 'boom'"
    assert result.messages == [] and result.objects == []
    assert result.logs == ["about to fail"]


def test_module_level_state_does_not_leak_between_invocations(pool: BlockingPool) -> None:
    handler = job("""
        seen = []
        count = 0
        def on_request(request, settings):
            global count
            count += 1
            seen.append(1)
            console.log(count, len(seen))
    """)
    # Enough runs to land on both workers more than once.
    results = [pool.invoke(handler) for _ in range(6)]
    assert [r.logs for r in results] == [["1 1"]] * 6


def test_settings_are_a_read_only_copy_per_invocation(pool: BlockingPool) -> None:
    handler = job("""
        def on_request(request, settings):
            console.log(settings["tags"], settings.apiKey)
            settings["tags"].append("added")
            for attempt in ("item", "attribute"):
                try:
                    if attempt == "item":
                        settings["apiKey"] = "changed"
                    else:
                        settings.apiKey = "changed"
                except Exception as exc:
                    console.log(attempt, "refused")
            console.log(settings["apiKey"])
    """, {"tags": ["a"], "apiKey": "k"})
    first, second = pool.invoke(handler), pool.invoke(handler)
    assert first.logs == ["['a'] k", "item refused", "attribute refused", "k"]
    # The list appended to in the first invocation was that invocation's own copy.
    assert second.logs == first.logs


@pytest.mark.parametrize("read", ['settings["apiKey"]', "settings.apiKey"])
def test_a_missing_setting_is_invalid_settings_naming_it(pool: BlockingPool, read: str) -> None:
    result = pool.invoke(job(f"""
        def on_request(request, settings):
            return {read}
    """, {"other": 1}))
    assert result.error is not None
    assert result.error.type == "InvalidSettings"
    assert "apiKey" in result.error.message


def test_settings_get_gives_the_default_for_a_missing_setting(pool: BlockingPool) -> None:
    result = pool.invoke(job("""
        def on_request(request, settings):
            console.log(settings.get("apiKey", "fallback"), settings.get("other"),
                        settings.get("missing"))
    """, {"other": 2}))
    assert result.logs == ["fallback 2 None"]


# Time limits and crashes


def test_a_runaway_job_times_out_without_slowing_a_concurrent_one(pool: BlockingPool) -> None:
    with concurrent.futures.ThreadPoolExecutor(2) as threads:
        runaway = threads.submit(pool.invoke, job("""
            def on_request(request, settings):
                while True:
                    pass
        """))
        time.sleep(0.1)  # let the runaway take its worker first
        normal = pool.invoke(job("""
            def on_request(request, settings):
                console.log("done")
        """))
        # The normal job did not wait for the runaway's time limit.
        runaway_running = not runaway.done()
        stuck = runaway.result(timeout=5)
    assert normal.ok and normal.logs == ["done"]
    assert runaway_running
    assert stuck.error is not None and stuck.error.type == "Timeout"


def test_a_job_stuck_in_c_code_kills_its_worker_which_is_replaced(pool: BlockingPool) -> None:
    before = set(pool.pool.pids)
    started = time.monotonic()
    result = pool.invoke(job("""
        def on_request(request, settings):
            return 10 ** 10 ** 10
    """))
    # The watchdog cannot interrupt one long C call: the hard deadline (1.0 + 0.5 s) can.
    assert result.error is not None and result.error.type == "Timeout"
    assert time.monotonic() - started < 3.0
    wait_for(lambda: len(pool.pool.pids) == 2)
    assert set(pool.pool.pids) != before
    after = pool.invoke(job("""
        def on_request(request, settings):
            console.log("still working")
    """))
    assert after.ok and after.logs == ["still working"]


def test_a_refused_memory_bomb_is_bad_request_and_its_worker_carries_on(
        pool: BlockingPool) -> None:
    wait_for(lambda: len(pool.pool.pids) == 2)
    before = set(pool.pool.pids)
    # 2 GiB: fine for this machine, far over the worker's cap (256 MiB plus slack). The
    # allocation is refused whole, so the worker has all its room afterwards.
    result = pool.invoke(job("""
        def on_request(request, settings):
            hoard = "x" * 2 ** 31
    """))
    assert result.error is not None
    assert (result.error.type, result.error.message) == ("BadRequest", "memory limit exceeded")
    assert pool.invoke(job("def on_request(request, settings):\n    pass\n")).ok
    assert set(pool.pool.pids) == before


def wake_ups(pid: int) -> int:
    """The times the threads of process ``pid`` have been switched in so far."""
    total = 0
    for thread in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{thread}/status") as status:
            total += sum(int(line.split()[1]) for line in status
                         if line.startswith(("voluntary_ctxt", "nonvoluntary_ctxt")))
    return total


RUNAWAY = """
    def on_request(request, settings):
        while True:
            pass
"""


def test_an_idle_worker_sleeps() -> None:
    # A worker with no job to watch wakes no one: a runner keeps two for every function,
    # and on a virtual machine each wake-up of a sleeping CPU costs tens of microseconds.
    with BlockingPool(size=1, limits=SHORT) as own:
        (pid,) = own.pool.pids
        assert own.invoke(job("def on_request(request, settings):\n    pass\n")).ok
        time.sleep(0.2)  # the watchdog's last round after the job
        before = wake_ups(pid)
        time.sleep(1.0)
        # It watched every 20 ms while it had a job: some 50 times a second, idle or not.
        assert wake_ups(pid) - before <= 3


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux scheduling policies")
def test_every_thread_of_a_worker_gives_way_to_the_event_loop() -> None:
    # segfn.priority: a worker's wake-ups must not take the CPU from the runner's loop.
    with BlockingPool(size=1, limits=SHORT) as own:
        (pid,) = own.pool.pids
        assert own.invoke(job("def on_request(request, settings):\n    pass\n")).ok
        threads = [int(task) for task in os.listdir(f"/proc/{pid}/task")]
        policies = {os.sched_getscheduler(thread) for thread in threads}
    assert len(threads) >= 2  # the reader and the watchdog at least
    assert policies == {os.SCHED_BATCH}
    # The process that started the pool is as it was.
    assert os.sched_getscheduler(0) == os.SCHED_OTHER


def test_a_worker_woken_from_idle_stops_a_runaway_itself() -> None:
    with BlockingPool(size=1, limits=SHORT) as own:
        (pid,) = own.pool.pids
        time.sleep(0.2)
        started = time.monotonic()
        result = own.invoke(job(RUNAWAY))
        assert result.error is not None and result.error.type == "Timeout"
        # Its own watchdog interrupted the handler at the limit: the pool's kill, half a
        # second later, would have cost the worker.
        assert time.monotonic() - started < SHORT.timeout + SHORT.grace
        assert own.pool.pids == [pid]
        assert own.invoke(job("def on_request(request, settings):\n    pass\n")).ok


def test_a_job_behind_a_runaway_on_a_worker_woken_from_idle_runs_at_once() -> None:
    # The worker ran the runaway on the thread that reads the pipe; after a slice of it,
    # the watchdog gives the reading to another thread, which runs the job behind it.
    async def scenario() -> tuple[Result, float, Result]:
        async with WorkerPool(size=1, limits=SHORT) as workers:
            await asyncio.sleep(0.2)
            runaway = asyncio.ensure_future(workers.invoke(job(RUNAWAY)))
            await asyncio.sleep(0.01)  # sent first, and young enough to share its worker
            started = time.monotonic()
            behind = await workers.invoke(job("""
                def on_request(request, settings):
                    console.log("behind")
            """))
            return behind, time.monotonic() - started, await runaway

    behind, took, runaway = asyncio.run(scenario())
    assert behind.ok and behind.logs == ["behind"]
    assert took < SHORT.timeout / 2
    assert runaway.error is not None and runaway.error.type == "Timeout"


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_light_jobs_go_to_one_worker_while_it_keeps_up() -> None:
    light = job("def on_request(request, settings):\n    pass\n")

    async def scenario() -> int:
        async with WorkerPool(size=2, limits=SHORT) as workers:
            _, second = workers.pids
            assert (await workers.invoke(light)).ok  # its pace is known from now on
            before = wake_ups(second)
            for _ in range(40):
                results = await asyncio.gather(*(workers.invoke(light) for _ in range(8)))
                assert all(result.ok for result in results)
            return wake_ups(second) - before

    # The second slept through 320 jobs: the first had them all done within milliseconds.
    assert asyncio.run(scenario()) <= 3


def test_jobs_that_take_long_spread_over_the_workers() -> None:
    slow = job("""
        import time
        def on_request(request, settings):
            started = time.time()
            while time.time() - started < 0.1:
                pass
    """)

    async def scenario() -> list[float]:
        async with WorkerPool(size=2, limits=SHORT) as workers:
            assert (await workers.invoke(slow)).ok
            before = [cpu_seconds(pid) for pid in workers.pids]
            results = await asyncio.gather(*(workers.invoke(slow) for _ in range(4)))
            assert all(result.ok for result in results)
            pids = workers.pids
            return [cpu_seconds(pid) - spent for pid, spent in zip(pids, before, strict=True)]

    # Each worker ran at least one of the four: 0.1 s of CPU each, less a tick's rounding.
    assert all(spent >= 0.09 for spent in asyncio.run(scenario()))


# Fetch through the pool


def test_io_bound_jobs_run_concurrently_on_few_workers(server: LocalServer) -> None:
    jobs = 32

    async def scenario() -> list[Result]:
        egress = Egress(EgressPolicy(allow_loopback=True))
        async with WorkerPool(size=2, limits=Limits(timeout=5.0)) as workers:
            handler = job(f"""
                def on_request(request, settings):
                    console.log(fetch("{server.url}/sleep/200").text())
            """)
            results = await asyncio.gather(*(workers.invoke(handler, egress)
                                             for _ in range(jobs)))
        await egress.aclose()
        return results

    results = asyncio.run(scenario())
    assert all(r.ok and r.logs == ["slept"] for r in results)
    assert server.hits["/sleep/200"] >= jobs
    # Counted at the server, not timed: two workers had many fetches waiting at once.
    assert server.peak_sleeping >= 8


def test_more_waiting_jobs_than_a_worker_has_threads_all_succeed() -> None:
    jobs = 80

    async def slow_web(requests: list[FetchRequest], budget: float) -> list[FetchAnswer]:
        await asyncio.sleep(0.3)
        return [FetchAnswer(200, r.url) for r in requests]

    async def scenario() -> tuple[list[Result], Result]:
        async with WorkerPool(size=1, limits=Limits(timeout=5.0)) as workers:
            handler = job("""
                def on_request(request, settings):
                    fetch("http://example.test/")
            """)
            waited = await asyncio.gather(*(workers.invoke(handler, slow_web)
                                            for _ in range(jobs)))
            # The threads those jobs used must not have eaten the worker's memory limit.
            after = await workers.invoke(job("""
                def on_request(request, settings):
                    console.log(len([0] * 10000000))
            """))
            return waited, after

    waited, after = asyncio.run(scenario())
    assert [r.error for r in waited] == [None] * jobs
    assert after.ok and after.logs == ["10000000"]


def test_fetch_waiting_counts_against_the_time_limit(server: LocalServer) -> None:
    async def scenario() -> tuple[Result, float]:
        egress = Egress(EgressPolicy(allow_loopback=True))
        async with WorkerPool(size=1, limits=SHORT) as workers:
            started = time.monotonic()
            result = await workers.invoke(job(f"""
                def on_request(request, settings):
                    fetch("{server.url}/sleep/3000")
            """), egress)
            took = time.monotonic() - started
        await egress.aclose()
        return result, took

    result, took = asyncio.run(scenario())
    assert result.error is not None
    assert result.error.type == "Timeout" or (
        result.error.type == "BadRequest" and "timed out" in result.error.message)
    assert took < 2.5


def test_closing_the_pool_fails_queued_jobs_instead_of_leaving_them_waiting() -> None:
    async def scenario() -> list[Any]:
        workers = WorkerPool(size=1, limits=Limits(timeout=5.0))
        await workers.start()
        spinning = job("""
            def on_request(request, settings):
                while True:
                    pass
        """)
        calls = [asyncio.ensure_future(workers.invoke(spinning)) for _ in range(2)]
        await asyncio.sleep(0.2)
        await workers.close()
        return await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 5)

    outcomes = asyncio.run(scenario())
    assert len(outcomes) == 2
    for outcome in outcomes:
        # Failed one way or the other, but answered.
        assert isinstance(outcome, RuntimeError) or (
            isinstance(outcome, Result) and outcome.error is not None)


def test_an_output_too_large_for_a_frame_is_bad_request_and_the_worker_lives() -> None:
    with BlockingPool(size=1, limits=Limits(timeout=10.0)) as own:
        (pid,) = own.pool.pids
        result = own.invoke(job("""
            def on_request(request, settings):
                Segment.set({"collection": "blobs", "id": "1",
                             "properties": {"b": "x" * 7000000}})
        """))
        assert result.error is not None and result.error.type == "BadRequest"
        assert "output is too large" in result.error.message
        assert own.invoke(job("def on_request(request, settings):\n    pass\n")).ok
        assert own.pool.pids == [pid]


def test_a_worker_that_cannot_start_is_reported_not_awaited_forever(monkeypatch) -> None:
    # A worker that exits before it is ready must make start() fail, not hang.
    pool = WorkerPool(1, Limits())
    monkeypatch.setattr(sys, "executable", "/bin/false")
    with pytest.raises(SandboxUnavailable, match="failed to start: exit code 1"):
        asyncio.run(asyncio.wait_for(pool.start(), 10))


def test_jobs_waiting_for_workers_that_cannot_restart_are_unavailable(monkeypatch) -> None:
    # Not a BadRequest: the job did nothing wrong, so its sender must keep it.
    async def scenario() -> None:
        async with WorkerPool(1, Limits(timeout=5.0)) as pool:
            (pid,) = pool.pids
            monkeypatch.setattr(sys, "executable", "/bin/false")
            os.kill(pid, signal.SIGKILL)
            for _ in range(1000):  # until the pool has seen it die
                if pid not in pool.pids:
                    break
                await asyncio.sleep(0.01)
            waiting = asyncio.ensure_future(pool.invoke(job("def on_request(r, s):\n    pass\n")))
            with pytest.raises(SandboxUnavailable, match="cannot start"):
                await asyncio.wait_for(waiting, 20)

    asyncio.run(scenario())
