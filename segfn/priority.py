"""Which threads give way to the event loop when the CPUs are busy.

A runner's event loop answers every webhook: each delivery passes through it four times
(read, sent to a worker, its result, its answer), so it is the one thread whose waiting
delays everything. Its helpers (a sandbox worker's threads, the store's writer and
reader) wake thousands of times a second, and Linux lets a task that wakes take the CPU
from the one running there. With two cores and three busy threads, each such wake-up put
the event loop back in the run queue: a quarter of a core's time it spent waiting there.

``SCHED_BATCH`` tells the scheduler a thread is throughput work: it is scheduled as
fairly as before (its nice value and share are those of any other thread), but its
wake-ups no longer preempt the running thread. Any process may put its own threads in
it: no privilege is needed.
"""

from __future__ import annotations

import os

# Not on every platform (macOS has no SCHED_BATCH): there the helpers run as they were.
_BATCH = getattr(os, "SCHED_BATCH", None)


def give_way_to_event_loop() -> None:
    """Make the calling thread, and the threads it starts from now on, ``SCHED_BATCH``."""
    if _BATCH is None:
        return
    try:
        # On Linux, pid 0 is the calling thread alone; threads it starts inherit it.
        os.sched_setscheduler(0, _BATCH, os.sched_param(0))
    except OSError:
        # A seccomp profile or an LSM may refuse it: then the thread only runs as before.
        pass
