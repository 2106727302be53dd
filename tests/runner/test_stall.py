"""Body-read deadlines (runner.stall): a silent block times out, progress moves its
deadline, a cancellation from elsewhere stays one, and the one timer stops when no read
is under way."""

from __future__ import annotations

import asyncio

import pytest

from runner import stall
from runner.stall import Deadline

SECONDS = 0.2


async def silent_for(seconds: float, deadline: float = SECONDS) -> None:
    async with Deadline(deadline):
        await asyncio.sleep(seconds)


def test_a_block_silent_past_its_deadline_times_out_within_a_tick() -> None:
    async def timed() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(TimeoutError):
            await silent_for(10)
        return loop.time() - start

    took = asyncio.run(timed())
    assert SECONDS <= took < SECONDS + SECONDS / 4 + 0.5


def test_progress_moves_the_deadline() -> None:
    async def steady() -> int:
        steps = 0
        async with Deadline(SECONDS) as deadline:
            while steps < 7:  # 0.7 s in all, each step within the deadline
                await asyncio.sleep(SECONDS / 2)
                deadline.moved()
                steps += 1
        return steps

    assert asyncio.run(steady()) == 7


def test_only_the_silent_blocks_of_many_time_out() -> None:
    async def many() -> list[object]:
        return await asyncio.gather(*[silent_for(10 if n % 3 == 0 else 0.01)
                                      for n in range(30)], return_exceptions=True)

    outcomes = asyncio.run(many())
    assert [type(o) for o in outcomes[0::3]] == [TimeoutError] * 10
    assert [o for n, o in enumerate(outcomes) if n % 3] == [None] * 20


def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    async def cancelled() -> None:
        task = asyncio.ensure_future(silent_for(10, deadline=10))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancelled())


def test_the_timer_stops_once_no_read_is_under_way() -> None:
    async def idle_after() -> tuple[int, bool, int]:
        await silent_for(0.01)
        watch = stall._watch_of(asyncio.get_running_loop())
        await asyncio.sleep(stall.TICK * 2)
        handles = len(asyncio.get_running_loop()._scheduled)  # type: ignore[attr-defined]
        return len(watch.reads), watch._ticking, handles

    assert asyncio.run(idle_after()) == (0, False, 0)
