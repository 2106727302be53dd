"""A stop that comes as a loop is woken is not lost.

``asyncio.wait_for`` in Python 3.11 returns the result, and drops the cancellation, when
the cancellation arrives after what it waits for is done: a loop waiting on its wake-up
event with it, woken just as the runtime stops, would run on and ``close()`` would wait for
it for good. Tried many times over, at every moment near the wake-up.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from runner.delivery import Deliverer, Destination
from runner.runtime import Runtime
from runner.store import Store
from segfn.sandbox.egress import Egress, EgressPolicy
from segfn.sandbox.fleet import Fleet
from segfn.sandbox.pool import WorkerPool


def test_a_stop_as_the_retry_loop_is_woken_ends_it(tmp_path: Path) -> None:
    async def stop_after_wake(turns: int) -> None:
        runtime = Runtime(tmp_path / str(turns), Fleet(lambda _: WorkerPool(1), 1),
                          Egress(EgressPolicy()), lambda _: None)
        await runtime.start()
        await asyncio.sleep(0.02)  # the retry loop waits on its event
        runtime.wake_retries()
        for _ in range(turns):
            await asyncio.sleep(0)
        await asyncio.wait_for(runtime.close(drain=1.0), 10)

    async def main() -> None:
        for turns in range(12):
            await stop_after_wake(turns)

    asyncio.run(main())


def test_a_stop_as_the_deliverer_is_woken_ends_it(tmp_path: Path) -> None:
    async def stop_after_wake(store: Store, turns: int) -> None:
        deliverer = Deliverer(store, Destination("http://127.0.0.1:9", "wk"))
        task = asyncio.create_task(deliverer.run())
        await asyncio.sleep(0.02)  # the lane loop waits on its event
        deliverer.notify()
        for _ in range(turns):
            await asyncio.sleep(0)
        task.cancel()
        await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 10)
        await deliverer.aclose()

    async def main() -> None:
        store = Store(tmp_path / "segfn.db")
        try:
            for turns in range(12):
                await stop_after_wake(store, turns)
        finally:
            store.close()

    asyncio.run(main())
