"""The worker process: runs jobs its parent sends, each in a thread of its own.

Started as ``python -m segfn.sandbox.worker TIMEOUT MEMORY_MB MODULES_JSON``. It compiles each
handler once and keeps running until its input closes. Several jobs may be in flight at
once: those waiting on ``fetch``, and at most four using the CPU (the parent's dispatch
rule, in ``pool.py``). A watchdog thread interrupts a job at its deadline; a job stuck where it
cannot be interrupted (one long C call) is the parent's to kill.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any

from segfn import errors
from segfn.cache import CacheAnswer, CacheRequest
from segfn.errors import Timeout
from segfn.sandbox import protocol, scope
from segfn.sandbox.execute import Executor, sandbox_registry
from segfn.sandbox.invocation import Job, Result

_WATCH_INTERVAL = 0.02
_STACK_SIZE = 8 * 1024 * 1024


class _Running:
    __slots__ = ("thread_id", "deadline", "interrupted", "asking", "answer", "answered")

    def __init__(self, deadline: float) -> None:
        self.thread_id = threading.get_ident()
        self.deadline = deadline
        self.interrupted = False
        # A fetch or cache request is waiting for the parent's answer.
        self.asking = False
        self.answer: Any = None
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
            fetch_transport=lambda requests, budget: self._fetch(number, requests, budget),
            cache_transport=lambda request: self._cache(number, request))
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
        message = {"op": "fetch", "id": number, "requests": requests, "budget": budget}
        answered, answers = self._ask(number, message, budget)
        if not answered:
            return [{"error": "fetch timed out: no time left in this invocation"}] * len(requests)
        return answers

    def _cache(self, number: int, request: CacheRequest) -> CacheAnswer:
        running = self._running[number]
        message = {"op": "cache", "id": number, "request": request.to_dict()}
        answered, answer = self._ask(number, message, running.deadline - time.monotonic())
        if not answered:
            return CacheAnswer(error="no answer: no time left in this invocation")
        return CacheAnswer.from_dict(answer)

    def _ask(self, number: int, message: dict[str, Any], budget: float) -> tuple[bool, Any]:
        """Send ``message`` to the parent and wait up to ``budget`` (and a second) for its
        answer: whether it came, and what it was."""
        running = self._running[number]
        if running.asking:
            # Only a finalizer run while this job waits can ask again: the one answer slot
            # would get the wrong answer, and the parent refuses a second cache request.
            raise RuntimeError("a fetch or cache call cannot start while another waits")
        running.asking = True
        try:
            running.answered.clear()
            self.send(message)
            answered = running.answered.wait(max(budget, 0.0) + 1)
        finally:
            running.asking = False
        if running.interrupted:
            raise Timeout()
        return answered, running.answer

    def answer(self, number: int, answer: Any) -> None:
        """The parent's answer to job ``number``'s fetch or cache request."""
        with self._lock:
            running = self._running.get(number)
        if running is not None:
            running.answer = answer
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
    timeout, memory_mb, modules = float(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])
    # The protocol owns the original stdout; anything else printing goes to stderr.
    output = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    source = sys.stdin.buffer
    threading.stack_size(_STACK_SIZE)
    worker = Worker(output, timeout, modules)
    _limit_memory(memory_mb)
    threading.Thread(target=worker.watch, daemon=True, name="watchdog").start()
    worker.send({"op": "ready", "pid": os.getpid()})
    while True:
        message = protocol.read_frame(source)
        if message is None:
            break
        if message["op"] == "invoke":
            worker.start(message["id"], Job.from_dict(message["job"]))
        elif message["op"] == "fetched":
            worker.answer(message["id"], message["answers"])
        elif message["op"] == "cached":
            worker.answer(message["id"], message["answer"])
    os._exit(0)


if __name__ == "__main__":
    main()
