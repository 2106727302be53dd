"""What confining a worker costs at start-up, in time and memory, against an unconfined one.

    python benchmarks/workers.py [--quick]

Starts a one-worker ``WorkerPool`` again and again, confined as far as this machine allows
(``decide()``: bubblewrap namespaces, an unprivileged uid, rlimits, seccomp) and unconfined
(``Plan.unconfined()``: the same worker, no bubblewrap, no filter), in interleaved rounds so
that a busy machine slows both alike. Start-up is from ``start()`` until the worker says it is
ready; memory is the resident set of the worker and, when confined, of the two bwrap
processes that stay beside it (its monitor and the init of its pid namespace). Medians.

Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from segfn.sandbox.confine.plan import Plan, decide  # noqa: E402
from segfn.sandbox.pool import WorkerPool  # noqa: E402


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def one_start(plan: Plan) -> tuple[float, int, int]:
    """Seconds to a ready worker, the worker's RSS and that of the bwrap around it (KiB)."""
    pool = WorkerPool(size=1, plan=plan)
    started = time.perf_counter()
    await pool.start()
    elapsed = time.perf_counter() - started
    (pid,) = pool.pids
    helpers = 0
    if plan.bwrap is not None:
        monitor = pool._workers[0].process.pid  # noqa: SLF001 - what bwrap itself holds
        with open(f"/proc/{monitor}/task/{monitor}/children") as children:
            init = int(children.read().split()[0])
        helpers = rss_kib(monitor) + rss_kib(init)
    worker = rss_kib(pid)
    await pool.close()
    return elapsed, worker, helpers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few rounds only")
    rounds = 3 if parser.parse_args().quick else 15
    confined = decide()
    plans = {"confined": confined, "unconfined": Plan.unconfined()}
    samples: dict[str, list[tuple[float, int, int]]] = {name: [] for name in plans}
    for _ in range(rounds):
        for name, plan in plans.items():
            samples[name].append(asyncio.run(one_start(plan)))
    print(f"worker start-up, {rounds} rounds, medians")
    if confined.missing:
        print("confined lacks: " + "; ".join(confined.missing))
    for name, rows in samples.items():
        start = statistics.median(r[0] for r in rows) * 1000
        worker = statistics.median(r[1] for r in rows) / 1024
        helpers = statistics.median(r[2] for r in rows) / 1024
        print(f"{name:<12} start {start:7.1f} ms   worker RSS {worker:6.1f} MiB   "
              f"bwrap RSS {helpers:5.1f} MiB")


if __name__ == "__main__":
    main()
