"""Jobs that share a worker do not pay for each other.

The parent's kill at the deadline is what stops a job, whatever the job does to the
in-process interrupt. A job that dies with its worker because of another job (that job's
deadline or memory, or a crash while several jobs were on it) is never run again behind the
caller's back: it ends as a Retry, which the runner stores and runs again as a counted
attempt. Only the job that ran out of time or memory fails for it. Real worker processes
throughout.
"""

from __future__ import annotations

import asyncio
import os
import signal
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from runner import retries
from runner.leases import Lease
from runner.runtime import Runtime
from runner.source import Source
from segfn.fetch import FetchAnswer, FetchRequest
from segfn.sandbox.compiler import Handler
from segfn.sandbox.fleet import Fleet
from segfn.sandbox.invocation import HttpRequest, Job, Result
from segfn.sandbox.pool import Limits, WorkerPool
from tests.stored import connect, look

LIMITS = Limits(timeout=3.0, grace=0.2)
TIMED_OUT = "the function ran past its time limit of 3 s"
# How much later than the stuck job its neighbour starts: more than the grace, so the
# neighbour is still within its own time limit when the stuck one is killed, and far less
# than the limit, so the neighbour reaches its fetch before the kill on a slow machine too.
STAGGER = 0.5
# No wait here is unbounded: a scenario that goes wrong fails, it does not hang the suite.
PATIENCE = 15.0


def job(source: str) -> Job:
    return Job(Handler(textwrap.dedent(source), "handler.py"),
               HttpRequest(b"{}", [("Content-Type", "application/json")]))


def answer(requests: list[FetchRequest]) -> list[FetchAnswer]:
    return [FetchAnswer(200, r.url) for r in requests]


class Web:
    """The fetcher of these tests. ``http://stuck.test/`` answers once ``release`` is set;
    ``http://payments.test/charge`` counts its calls, so a job run twice shows, and answers
    its first call long after any deadline here."""

    def __init__(self) -> None:
        self.charges = 0
        self.charged = asyncio.Event()
        self.stuck_asked = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, requests: list[FetchRequest], budget: float
                       ) -> list[FetchAnswer]:
        if requests[0].url.startswith("http://stuck.test/"):
            self.stuck_asked.set()
            await self.release.wait()
        else:
            self.charges += 1
            self.charged.set()
            if self.charges == 1:
                await asyncio.sleep(30)
        return answer(requests)

    async def aclose(self) -> None:
        pass


WAITING = """
    def on_request(request, settings):
        fetch("http://payments.test/charge", method="POST")
        Segment.track({"userId": "1", "event": "Charged"})
"""

# Each first waits on a fetch, which lets the dispatcher give its worker a second job.
STUCK = {
    "sleep": """
        import time
        def on_request(request, settings):
            fetch("http://stuck.test/")
            time.sleep(60)
    """,
    "swallowing loop": """
        def on_request(request, settings):
            fetch("http://stuck.test/")
            while True:
                try:
                    while True:
                        pass
                except BaseException:
                    pass
    """,
    "catastrophic regex": """
        import re
        def on_request(request, settings):
            fetch("http://stuck.test/")
            re.match("(a+)+$", "a" * 64 + "b")
    """,
}

# Asleep where the worker's own interruption cannot reach it: only the parent's kill ends it.
STUCK_ASLEEP = """
    import time
    def on_request(request, settings):
        time.sleep(60)
"""

AFTER = """
    def on_request(request, settings):
        console.log("after")
"""


async def stuck_beside_a_neighbour(web: Web, run_stuck: Any, run_waiting: Any
                                   ) -> tuple[Any, Any]:
    """Start the stuck job, then (``STAGGER`` later, on the same worker) the waiting one;
    let the stuck one go on once its neighbour waits on its fetch."""
    stuck = asyncio.ensure_future(run_stuck())
    await asyncio.wait_for(web.stuck_asked.wait(), PATIENCE)
    await asyncio.sleep(STAGGER)
    waiting = asyncio.ensure_future(run_waiting())
    await asyncio.wait_for(web.charged.wait(), PATIENCE)
    web.release.set()
    return tuple(await asyncio.wait_for(asyncio.gather(stuck, waiting), PATIENCE))


@pytest.mark.parametrize("stuck", list(STUCK))
def test_the_deadline_kill_stops_the_job_and_its_neighbour_is_a_retry(stuck: str) -> None:
    async def scenario() -> tuple[Result, Result, int, bool, Result]:
        web = Web()
        async with WorkerPool(size=1, limits=LIMITS) as workers:
            (pid,) = workers.pids
            stuck_result, waiting_result = await stuck_beside_a_neighbour(
                web, lambda: workers.invoke(job(STUCK[stuck]), web),
                lambda: workers.invoke(job(WAITING), web))
            after = await asyncio.wait_for(workers.invoke(job(AFTER)), 10)
            return stuck_result, waiting_result, web.charges, pid not in workers.pids, after

    stuck_result, waiting_result, charges, killed, after = asyncio.run(scenario())
    assert stuck_result.error is not None
    assert (stuck_result.error.type, stuck_result.error.message) == ("Timeout", TIMED_OUT)
    assert killed, "the stuck job ended without its worker being killed"
    # The neighbour was not charged a second time behind the caller's back.
    assert charges == 1
    assert waiting_result.error is not None, "the neighbour was run again"
    assert waiting_result.error.type == "Retry", waiting_result.error
    assert waiting_result.messages == []
    assert after.ok and after.logs == ["after"]


def test_a_stuck_job_behind_one_done_in_time_is_killed_at_its_own_deadline() -> None:
    """The pool watches the deadline of a worker's oldest job; once that one is done in
    time, the next oldest is held to its own deadline, neither let go nor killed early."""
    limits = Limits(timeout=1.0, grace=0.2)
    asked = asyncio.Event()

    async def slow_web(requests: list[FetchRequest], budget: float) -> list[FetchAnswer]:
        asked.set()
        await asyncio.sleep(0.6)
        return answer(requests)

    async def scenario() -> tuple[Result, Result, float]:
        async with WorkerPool(size=1, limits=limits) as workers:
            first = asyncio.ensure_future(workers.invoke(job("""
                def on_request(request, settings):
                    fetch("http://slow.test/")
                    console.log("first")
            """), slow_web))
            await asyncio.wait_for(asked.wait(), PATIENCE)
            await asyncio.sleep(0.3)
            sent = time.monotonic()
            stuck = await asyncio.wait_for(workers.invoke(job(STUCK_ASLEEP)), PATIENCE)
            return await first, stuck, time.monotonic() - sent

    first, stuck, took = asyncio.run(scenario())
    assert first.ok and first.logs == ["first"]
    assert stuck.error is not None
    assert (stuck.error.type, stuck.error.message) == (
        "Timeout", "the function ran past its time limit of 1 s")
    # Killed at its own deadline, not at the first job's, some 0.3 s earlier.
    assert took >= limits.timeout + limits.grace


def test_a_crash_with_several_jobs_on_the_worker_makes_each_a_retry() -> None:
    async def scenario() -> tuple[Result, Result, int]:
        web = Web()
        async with WorkerPool(size=1, limits=Limits(timeout=5.0)) as workers:
            (victim,) = workers.pids
            spinning = asyncio.ensure_future(workers.invoke(job("""
                def on_request(request, settings):
                    fetch("http://stuck.test/")
                    while True:
                        pass
            """), web))
            # While the spinner waits on its fetch the worker takes the neighbour, however
            # slow the machine: a job that runs holds its worker to itself.
            await asyncio.wait_for(web.stuck_asked.wait(), PATIENCE)
            waiting = asyncio.ensure_future(workers.invoke(job(WAITING), web))
            await asyncio.wait_for(web.charged.wait(), PATIENCE)
            web.release.set()
            os.kill(victim, signal.SIGKILL)
            results = await asyncio.wait_for(asyncio.gather(spinning, waiting), 10)
        return results[0], results[1], web.charges

    spun, waited, fetches = asyncio.run(scenario())
    assert fetches == 1
    for result in (spun, waited):
        assert result.error is not None and result.error.type == "Retry", result.error
        assert "killed by signal SIGKILL" in result.error.message


def test_a_crash_with_one_job_on_the_worker_is_that_jobs_bad_request() -> None:
    async def scenario() -> Result:
        async with WorkerPool(size=1, limits=Limits(timeout=5.0)) as workers:
            (victim,) = workers.pids
            spinning = asyncio.ensure_future(workers.invoke(job("""
                def on_request(request, settings):
                    while True:
                        pass
            """)))
            for _ in range(1000):  # until the job is on the worker
                if workers._workers[0].calls:
                    break
                await asyncio.sleep(0.01)
            os.kill(victim, signal.SIGKILL)
            return await asyncio.wait_for(spinning, 10)

    result = asyncio.run(scenario())
    assert result.error is not None
    assert (result.error.type, result.error.message) == (
        "BadRequest", "worker crashed: killed by signal SIGKILL")


# Memory


def test_raising_memory_error_does_not_retire_the_worker() -> None:
    async def scenario() -> tuple[list[Result], list[int], list[int]]:
        async with WorkerPool(size=1, limits=LIMITS) as workers:
            before = workers.pids
            results = [await workers.invoke(job("""
                def on_request(request, settings):
                    raise MemoryError()
            """)) for _ in range(3)]
            results.append(await workers.invoke(job(AFTER)))
            return results, before, workers.pids

    results, before, after = asyncio.run(scenario())
    for result in results[:3]:
        assert result.error is not None
        assert (result.error.type, result.error.message) == ("BadRequest",
                                                             "memory limit exceeded")
    assert results[3].ok and results[3].logs == ["after"]
    assert after == before


def hog(then: str) -> str:
    """A handler that fills the worker's address space down to small allocations, holds
    it, then runs the line ``then`` (``note`` is a text made before the fill)."""
    return f"""
    import time
    def on_request(request, settings):
        note, hoard = "x" * 5000, []
        for size in (10 ** 7, 10 ** 6, 10 ** 5, 10 ** 4, 10 ** 3, 10 ** 2):
            try:
                while True:
                    hoard.append(bytes(size))
            except MemoryError:
                pass
        {then}
    """


HOG = hog("time.sleep(1); raise MemoryError()")
# Its last step a message, measured by the JSON writer (jsontext.dumps): with memory full,
# there is no buffer for its note. orjson wrote through a null pointer there, and the
# worker died of SIGSEGV with every job on it.
TRACKING_HOG = hog('Segment.track({"userId": "1", "event": "Hoarded", '
                   '"properties": {"note": note}})')


def test_memory_running_out_in_the_json_writer_is_a_memory_error_not_a_crash() -> None:
    async def scenario() -> tuple[Result, Result]:
        async with WorkerPool(size=1, limits=Limits(timeout=5.0)) as workers:
            return await workers.invoke(job(TRACKING_HOG)), await workers.invoke(job(AFTER))

    hogged, after = asyncio.run(scenario())
    assert hogged.error is not None
    assert (hogged.error.type, hogged.error.message) == ("BadRequest", "memory limit exceeded")
    assert after.ok and after.logs == ["after"]


class LateWeb:
    """A fetcher that answers once the hog has filled the worker's memory."""

    def __init__(self) -> None:
        self.calls = 0
        self.asked = asyncio.Event()

    async def __call__(self, requests: list[FetchRequest], budget: float
                       ) -> list[FetchAnswer]:
        self.calls += 1
        self.asked.set()
        await asyncio.sleep(0.5)
        return [FetchAnswer(200, r.url, body=b"ok") for r in requests]


def run_beside_the_hog(neighbour: str) -> tuple[Result, Result, int, Result]:
    """The hog's result, its neighbour's, the neighbour's fetches, and the next job's."""
    async def scenario() -> tuple[Result, Result, int, Result]:
        web = LateWeb()
        async with WorkerPool(size=1, limits=Limits(timeout=5.0)) as workers:
            (pid,) = workers.pids
            waiting = asyncio.ensure_future(workers.invoke(job(neighbour), web))
            await asyncio.wait_for(web.asked.wait(), PATIENCE)
            hog = asyncio.ensure_future(workers.invoke(job(HOG)))
            hogged, waited = await asyncio.wait_for(asyncio.gather(hog, waiting), 15)
            after = await asyncio.wait_for(workers.invoke(job(AFTER)), 10)
            # Out of memory, the worker spent its reserve: it retired once its jobs were done.
            assert pid not in workers.pids
        return hogged, waited, web.calls, after

    return asyncio.run(scenario())


def test_memory_exhaustion_does_not_take_the_reader_or_a_neighbour_down() -> None:
    hogged, waited, fetches, after = run_beside_the_hog("""
        def on_request(request, settings):
            console.log(fetch("http://example.test/").text())
    """)
    assert hogged.error is not None
    assert (hogged.error.type, hogged.error.message) == ("BadRequest", "memory limit exceeded")
    assert fetches == 1
    assert waited.ok, waited.error
    assert waited.logs == ["ok"]
    assert after.ok and after.logs == ["after"]


def test_a_neighbour_short_of_memory_because_of_the_hog_is_a_retry() -> None:
    hogged, waited, fetches, after = run_beside_the_hog("""
        def on_request(request, settings):
            fetch("http://example.test/")
            room = bytes(5 * 10 ** 7)
    """)
    assert (hogged.error.type, hogged.error.message) == ("BadRequest", "memory limit exceeded")
    assert fetches == 1
    assert waited.error is not None and waited.error.type == "Retry", waited.error
    assert after.ok and after.logs == ["after"]


# End to end: the runner stores a neighbour's Retry as a durable, counted attempt


def test_a_neighbour_of_a_deadline_kill_becomes_a_durable_retry(tmp_path: Path) -> None:
    charge = Source("src_pay", "payments", Handler(textwrap.dedent(WAITING)), {})
    # Another version of the same function: only one function's code shares a process.
    stuck = Source("src_stuck", "payments", Handler(textwrap.dedent(STUCK["sleep"])), {})
    request = HttpRequest(b"{}", [("Content-Type", "application/json")])

    async def main() -> tuple[Any, Any, int]:
        web = Web()
        # The fetcher stands in for the egress: the pool calls whatever the runtime holds.
        runtime = Runtime(tmp_path, Fleet(lambda _: WorkerPool(1, LIMITS), 1),
                          web,  # type: ignore[arg-type]
                          {s.id: s for s in (charge, stuck)}.get)
        await runtime.start()
        try:
            stuck_outcome, charged = await stuck_beside_a_neighbour(
                web, lambda: runtime.deliver(stuck, request),
                lambda: runtime.deliver(charge, request))
        finally:
            await runtime.close()
        return stuck_outcome, charged, web.charges

    # Bounded as a whole: it once hung in the runtime's close, whose retry loop missed its
    # stop (tests/runner/test_stop_race.py).
    stuck_outcome, charged, charges = asyncio.run(asyncio.wait_for(main(), 90))
    assert stuck_outcome.result.error.type == "Timeout"
    assert charges == 1
    assert charged.result.error.type == "Retry"
    assert (charged.status, charged.retry_queued) == (202, True)
    queued = look(tmp_path / "segfn.db", lambda db: retries.due(db, 10.0 ** 12, Lease()))
    pending = {r.invocation_id: r for r in queued}
    assert pending[charged.invocation_id].attempt == 1
    assert pending[charged.invocation_id].source == "src_pay"
    db = connect(tmp_path / "segfn.db")
    assert db.execute("SELECT COUNT(*) AS n FROM events").fetchone()["n"] == 0
