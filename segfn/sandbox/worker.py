"""The worker process: runs jobs its parent sends, each in a thread of its own.

Started as ``python -m segfn.sandbox.worker``; its first frame is its configuration (limits,
modules, confinement: ``confine.config.WorkerConfig``), which it applies before it says it is
ready (``confine.inside``). It compiles each handler once and keeps running until its input
closes. Several jobs may be in flight at
once: those waiting on ``fetch``, and at most four using the CPU (the parent's dispatch
rule, in ``pool.py``). A watchdog thread interrupts a job at its deadline; a job stuck where it
cannot be interrupted (one long C call) is the parent's to kill.
"""

from __future__ import annotations

import ctypes
import os
import resource
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any

from segfn import errors
from segfn.errors import Timeout
from segfn.sandbox import protocol, scope
from segfn.sandbox.confine import inside
from segfn.sandbox.confine.config import WorkerConfig
from segfn.sandbox.execute import Executor, sandbox_registry
from segfn.sandbox.invocation import Job, Result

_WATCH_INTERVAL = 0.02
_STACK_SIZE = 8 * 1024 * 1024


class _Running:
    __slots__ = ("thread_id", "deadline", "interrupted", "answer", "answered")

    def __init__(self, deadline: float) -> None:
        self.thread_id = threading.get_ident()
        self.deadline = deadline
        self.interrupted = False
        self.answer: list[dict[str, Any]] = []
        self.answered = threading.Event()


class Worker:
    def __init__(self, output: IO[bytes], timeout: float,
                 modules: dict[str, list[str]]) -> None:
        self._output = output
        self._timeout = timeout
        self._write_lock = threading.Lock()
        self._running: dict[int, _Running] = {}
        self._lock = threading.Lock()
        self._executor = Executor(sandbox_registry(modules))
        self._threads = ThreadPoolExecutor(max_workers=protocol.MAX_JOBS_PER_WORKER,
                                           thread_name_prefix="invocation")

    def send(self, message: dict[str, Any]) -> None:
        with self._write_lock:
            self._output.write(protocol.encode(message))
            self._output.flush()

    def start(self, number: int, job: Job) -> None:
        self._threads.submit(self._run, number, job)

    def _run(self, number: int, job: Job) -> None:
        try:
            result = self._execute(number, job)
        except Timeout:
            # The interruption landed after the handler had finished.
            result = Result.failed(errors.TIMEOUT, "the function ran past its time limit")
        retire = result.error is not None and result.error.message == "memory limit exceeded"
        try:
            self.send({"op": "result", "id": number, "result": result.to_dict(),
                       "retire": retire})
        except protocol.FrameTooLarge:
            # The parent would refuse the frame; tell it why instead.
            failed = Result.failed(errors.BAD_REQUEST, "the function's output is too large "
                                   f"(over {protocol.MAX_FRAME} bytes)", result.logs,
                                   result.duration_ms)
            self.send({"op": "result", "id": number, "result": failed.to_dict(),
                       "retire": retire})

    def _execute(self, number: int, job: Job) -> Result:
        running = _Running(time.monotonic() + self._timeout)
        with self._lock:
            self._running[number] = running
        invocation = scope.Scope(
            job.invocation_id, running.deadline,
            fetch_transport=lambda requests, budget: self._fetch(number, requests, budget))
        try:
            result = self._executor.run(job, invocation)
        finally:
            with self._lock:
                del self._running[number]
                # Drop an interruption the watchdog set too late to land in the handler.
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(running.thread_id),
                                                           None)
        if running.interrupted and result.ok:
            # The handler swallowed the interruption; it still ran past its limit.
            result = Result.failed(errors.TIMEOUT, "the function ran past its time limit",
                                   result.logs, result.duration_ms)
        return result

    def _fetch(self, number: int, requests: list[dict[str, Any]],
               budget: float) -> list[dict[str, Any]]:
        running = self._running[number]
        running.answered.clear()
        self.send({"op": "fetch", "id": number, "requests": requests, "budget": budget})
        answered = running.answered.wait(budget + 1)
        if running.interrupted:
            raise Timeout()
        if not answered:
            return [{"error": "fetch timed out: no time left in this invocation"}] * len(requests)
        return running.answer

    def answer_fetch(self, number: int, answers: list[dict[str, Any]]) -> None:
        with self._lock:
            running = self._running.get(number)
        if running is not None:
            running.answer = answers
            running.answered.set()

    def watch(self) -> None:
        """Interrupt every job past its deadline, again each round until it stops."""
        while True:
            time.sleep(_WATCH_INTERVAL)
            now = time.monotonic()
            with self._lock:
                for running in self._running.values():
                    if now > running.deadline:
                        running.interrupted = True
                        ctypes.pythonapi.PyThreadState_SetAsyncExc(
                            ctypes.c_ulong(running.thread_id), ctypes.py_object(Timeout))
                        running.answered.set()


def _limit_memory(megabytes: int) -> None:
    """Cap the address space at what the worker uses now plus ``megabytes``."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[0])
    used = pages * os.sysconf("SC_PAGE_SIZE")
    # Thread stacks and malloc arenas reserve address space they may never touch: room for a
    # stack per job the parent may send at once, and for the arenas (MALLOC_ARENA_MAX=2).
    stacks = protocol.MAX_JOBS_PER_WORKER * _STACK_SIZE
    limit = used + stacks + (megabytes + 128) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def main() -> None:
    # The protocol owns the original stdout; anything else printing goes to stderr.
    output = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    source = sys.stdin.buffer
    first = protocol.read_frame(source)
    if first is None or first.get("op") != "configure":
        raise SystemExit("segfn worker: the first frame must be its configuration")
    config = WorkerConfig.from_dict(first["config"])
    inside.drop_privileges(config.account)
    threading.stack_size(_STACK_SIZE)
    worker = Worker(output, config.timeout, {k: list(v) for k, v in config.modules.items()})
    _limit_memory(config.memory_mb)
    inside.limit_resources(config.nproc)
    threading.Thread(target=worker.watch, daemon=True, name="watchdog").start()
    # Last, once start-up no longer needs what it refuses.
    inside.filter_system_calls(config.seccomp)
    worker.send({"op": "ready", "pid": os.getpid(), "uid": os.getuid(),
                 "confinements": inside.active()})
    while True:
        message = protocol.read_frame(source)
        if message is None:
            break
        if message["op"] == "invoke":
            worker.start(message["id"], Job.from_dict(message["job"]))
        elif message["op"] == "fetched":
            worker.answer_fetch(message["id"], message["answers"])
    os._exit(0)


if __name__ == "__main__":
    main()
