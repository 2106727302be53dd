"""The worker process: runs jobs its parent sends, each in a thread of its own.

Started as ``python -m segfn.sandbox.worker``; its first frame is its configuration (limits,
modules, confinement: ``confine.config.WorkerConfig``), which it applies before it says it is
ready (``confine.inside``). It compiles each handler once and keeps running until its input
closes. Several jobs may be in flight at
once: those waiting on ``fetch``, and at most 16 using the CPU (the parent's dispatch
rule, in ``pool.py``). A watchdog thread interrupts a job at its deadline; a job stuck where it
cannot be interrupted (one long C call, a sleep, a handler that swallows the interruption) is
the parent's to kill. The watchdog sleeps while no job runs: an idle worker wakes no one.

One thread at a time reads the parent's frames. A job that comes when the worker has no
other runs on that thread, with no hand-over (the common case, and the cheapest: a hand-over
wakes a thread, and the two contend for the GIL); any other job goes to a thread of its own.
The reading passes to another thread as soon as the job the reader runs asks the parent
something (its answer must be read), or has run for ``_INLINE_SLICE`` (the jobs queued behind
it must not wait for it); the reader, once its job is done, serves jobs like any thread.

Memory: a job that fails with MemoryError is charged with it (BadRequest) when the worker has
room again once the job's frames are gone: it raised the error itself, or its own allocations
went with it. Without room, another job holds the memory: the failed job is a neighbour
(Retry) and the worker retires. The reader keeps a reserve it frees when memory runs out,
so it can still read the parent's frames; then it tells the parent, which sends no more jobs.
JSON is written and read by ``json`` alone here, never orjson: orjson checks none of its
allocations, and one that fails crashes the worker instead of raising MemoryError.
"""

from __future__ import annotations

import ctypes
import gc
import os
import queue
import resource
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Any, TypeVar

import attrs

from segfn import errors, jsontext, priority
from segfn.cache import CacheAnswer, CacheRequest
from segfn.errors import FetchError, Timeout
from segfn.fetch import FetchAnswer, FetchRequest
from segfn.sandbox import protocol, scope
from segfn.sandbox.compiler import Handler
from segfn.sandbox.confine import inside
from segfn.sandbox.confine.config import WorkerConfig
from segfn.sandbox.execute import MEMORY_EXCEEDED, Executor, sandbox_registry
from segfn.sandbox.invocation import Job, Result, timed_out

_WATCH_INTERVAL = 0.02
_STACK_SIZE = 8 * 1024 * 1024
# Freed by the reader when memory runs out, so that it can go on reading frames.
_RESERVE_BYTES = 16 * 1024 * 1024
# The room a worker must have, once a job that failed with MemoryError is gone, for that job
# to be the one at fault. More than the reserve, which the reader may just have freed.
_ROOM_BYTES = 32 * 1024 * 1024
# How long a step waits, out of memory, for other jobs to give some back.
_MEMORY_WAIT = 0.05
_EXHAUSTED = protocol.encode({"op": "exhausted"})
# How long the reading thread runs a job itself before another thread takes the reading.
_INLINE_SLICE = 0.02
# Queued for a thread, as jobs are: take over the reading of the parent's frames.
_READ = None
T = TypeVar("T")


class _Running:
    __slots__ = ("thread_id", "deadline", "interrupted", "asking", "answer", "answered")

    def __init__(self, deadline: float) -> None:
        self.thread_id = threading.get_ident()
        self.deadline = deadline
        self.interrupted = False
        # A fetch or cache request is waiting for the parent's answer.
        self.asking = False
        self.answer: Any = None
        # Made when the job asks: most never do, and an Event is a lock and a condition.
        self.answered: threading.Event | None = None


class Worker:
    def __init__(self, output: IO[bytes], timeout: float,
                 modules: dict[str, list[str]]) -> None:
        self._output = output
        self._timeout = timeout
        self._write_lock = threading.Lock()
        self._running: dict[int, _Running] = {}
        self._lock = threading.Lock()
        self._executor = Executor(sandbox_registry(modules))
        # Jobs (and the reading, ``_READ``) wait here for a thread: an idle one, claimed by
        # ``_queue``, or a new one.
        self._jobs: queue.SimpleQueue[tuple[int, Job] | None] = queue.SimpleQueue()
        self._source: IO[bytes] | None = None
        self._handlers: protocol.Kept[Handler] = protocol.Kept()
        # Jobs queued or running.
        self._active = 0
        # The job the reading thread runs itself: that thread and when the job started.
        self._inline: tuple[int, float] | None = None
        self._idle = 0
        self._threads = 0
        # Jobs queued with no thread claimed for them (one could not be started).
        self._unclaimed = 0
        self._reserve: bytes | None = bytes(_RESERVE_BYTES)
        # Set while the watchdog has something to watch; cleared by the watchdog alone.
        self._watching = threading.Event()

    def send(self, message: dict[str, Any]) -> None:
        self.write(protocol.encode(message, protocol.MAX_WORKER_FRAME))

    def write(self, frame: bytes) -> None:
        with self._write_lock:
            self._output.write(frame)
            self._output.flush()

    def serve(self, source: IO[bytes]) -> None:
        """Read the parent's frames and run its jobs; the process exits once its end of the
        pipe closes."""
        self._source = source
        self._read()
        self._serve_jobs(claimed=False)

    def _read(self) -> None:
        """Read frames until the job this thread runs itself hands the reading over."""
        source = self._source
        assert source is not None
        while True:
            # Each step on its own: one that ran out of memory is tried again, not skipped.
            header = self._patiently(source.read, protocol.HEADER_SIZE)
            if len(header) < protocol.HEADER_SIZE:
                os._exit(0)
            size = protocol.frame_size(header)
            data = self._patiently(source.read, size)
            if len(data) < size:
                os._exit(0)
            message = self._patiently(protocol.decode, data)
            if message["op"] == "invoke":
                job = self._patiently(self._job, message["job"])
                if self._patiently(self._claim, threading.get_ident()):
                    self._run(message["id"], job)
                    if not self._still_reading():
                        return
                else:
                    self._patiently(self.start, message["id"], job)
            elif message["op"] == "fetched":
                self.answer(message["id"], message["answers"])
            elif message["op"] == "cached":
                self.answer(message["id"], message["answer"])

    def _job(self, data: dict[str, Any]) -> Job:
        """The job of an invoke frame: its handler's source comes the first time only, then
        its key names it (``protocol.Kept``, kept in step with the parent's)."""
        if "source" in data:
            handler = Handler(data["source"], data["filename"], data["key"])
            self._handlers.keep(handler.key, handler)
            return Job.from_dict(data, handler)
        kept = self._handlers.use(data["key"])
        if kept is None:
            # Out of step with the parent: nothing it sends can be trusted to run right.
            sys.stderr.write("segfn worker: a job names a handler it was never sent\n")
            os._exit(70)
        return Job.from_dict(data, kept)

    def _claim(self, thread: int) -> bool:
        """Count a new job; whether ``thread``, the reader, runs it (it is the only one)."""
        # Made first: nothing that may run out of memory comes after the count.
        inline = (thread, time.monotonic())
        with self._lock:
            alone = self._active == 0
            self._active += 1
            if alone:
                self._inline = inline
        return alone

    def _still_reading(self) -> bool:
        """After the reader ran a job: whether the reading is still this thread's."""
        with self._lock:
            still = self._inline is not None
            self._inline = None
        return still

    def _hand_off(self, thread: int | None = None) -> None:
        """Give the reading to another thread, when the reader runs a job (``thread`` when
        it is that one's)."""
        with self._lock:
            if self._inline is None or thread not in (None, self._inline[0]):
                return
            self._inline = None
        # Whatever thread takes it reads on; if none can start, the reader itself will,
        # once its job is done.
        self._queue(_READ)

    def _overran_slice(self) -> None:
        inline = self._inline
        if inline is not None and time.monotonic() - inline[1] > _INLINE_SLICE:
            self._hand_off(inline[0])

    def _patiently(self, step: Callable[..., T], *args: Any) -> T:
        """``step(*args)``; out of memory, free the reserve (telling the parent) and try
        again until other jobs give memory back. A wait that never ends, the parent's
        deadline kill ends."""
        while True:
            try:
                return step(*args)
            except MemoryError:
                if self._reserve is not None:
                    self._reserve = None
                    self._patiently(self.write, _EXHAUSTED)
                time.sleep(_MEMORY_WAIT)

    def start(self, number: int, job: Job) -> None:
        """Queue a job for a thread (see ``_queue``)."""
        self._queue((number, job))

    def _queue(self, item: tuple[int, Job] | None) -> None:
        """Queue a job or the reading for a thread. Either it is queued or this raises, so
        ``_patiently`` never queues one twice; a thread that cannot be started leaves it to
        the next thread that is done with its own."""
        self._jobs.put(item)
        with self._lock:
            if self._idle:
                self._idle -= 1
                return
            self._threads += 1
        try:
            threading.Thread(target=self._serve_jobs, daemon=True, name="invocation").start()
        except (RuntimeError, MemoryError):
            with self._lock:
                self._threads -= 1
                self._unclaimed += 1

    def _serve_jobs(self, claimed: bool = True) -> None:
        """Run queued jobs, and read when that is queued. A thread started for an item
        queued already (``claimed``) takes it first; one that was reading claims none."""
        if not claimed:
            self._free()
        while True:
            item = self._jobs.get()
            if item is _READ:
                self._read()
            else:
                self._run(*item)
            self._free()

    def _free(self) -> None:
        """This thread is done: it takes an item queued with no thread, or waits idle."""
        with self._lock:
            if self._unclaimed:
                self._unclaimed -= 1
            else:
                self._idle += 1

    def _run(self, number: int, job: Job) -> None:
        try:
            try:
                result = self._execute(number, job)
            except Timeout:
                # The interruption landed after the handler had finished.
                result = Result.failed(errors.TIMEOUT, timed_out(self._timeout))
            except MemoryError:
                result = Result.failed(errors.BAD_REQUEST, MEMORY_EXCEEDED)
            retire = False
            if result.error is not None and result.error.message == MEMORY_EXCEEDED:
                result, retire = self._blame(result)
            self._patiently(self._answer, number, result, retire)
        finally:
            with self._lock:
                self._active -= 1

    def _answer(self, number: int, result: Result, retire: bool) -> None:
        self.write(_result_frame(number, result, retire))

    def _blame(self, result: Result) -> tuple[Result, bool]:
        """A MemoryError's result, and whether the worker retires (see the module's
        docstring). The job has left ``_running`` by now."""
        gc.collect()
        if _has_room():
            return result, False
        with self._lock:
            neighbours = bool(self._running)
        if not neighbours:
            return result, True
        return Result.failed(errors.RETRY, "the worker ran out of memory another invocation "
                             "holds; it is to run again", result.logs, result.duration_ms), True

    def _execute(self, number: int, job: Job) -> Result:
        running = _Running(time.monotonic() + self._timeout)
        with self._lock:
            self._running[number] = running
        invocation = scope.Scope(
            job.invocation_id, running.deadline,
            fetch_transport=lambda requests, budget: self._fetch(number, requests, budget),
            cache_transport=lambda request: self._cache(number, request))
        try:
            # The watchdog clears the event only under the lock, with no job running: seen
            # set once this job is in ``_running``, it stays set until the job is done.
            if not self._watching.is_set():
                self._watching.set()
            result = self._executor.run(job, invocation)
        finally:
            with self._lock:
                del self._running[number]
                # Drop an interruption the watchdog set too late to land in the handler.
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(running.thread_id),
                                                           None)
        if result.error is not None and result.error.type == errors.TIMEOUT:
            # Where the interruption landed is kept: the line the handler was stuck at.
            result = attrs.evolve(result, error=attrs.evolve(
                result.error, message=timed_out(self._timeout)))
        elif running.interrupted and result.ok:
            # The handler swallowed the interruption; it still ran past its limit.
            result = Result.failed(errors.TIMEOUT, timed_out(self._timeout), result.logs,
                                   result.duration_ms)
        return result

    def _fetch(self, number: int, requests: list[FetchRequest],
               budget: float) -> list[FetchAnswer]:
        message = {"op": "fetch", "id": number, "requests": [r.to_dict() for r in requests],
                   "budget": budget}
        try:
            answered, answers = self._ask(number, message, budget)
        except protocol.FrameTooLarge as exc:
            raise FetchError(f"fetch request too large: {exc}") from None
        if not answered:
            return [FetchAnswer.failed("fetch timed out: no time left in this invocation")
                    ] * len(requests)
        return [FetchAnswer.from_dict(answer) for answer in answers]

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
            # Run by the reader itself, the job would wait for an answer nobody reads.
            self._hand_off(running.thread_id)
            running.answered = threading.Event()
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
        if running is not None and running.answered is not None:
            running.answer = answer
            running.answered.set()

    def watch(self) -> None:
        """Interrupt every job past its deadline, again each round until it stops; sleep
        while no job runs."""
        while True:
            # Not through ``_patiently``: a round that allocates more, out of memory, would
            # spend the reader's reserve. The wait allocates only when no job runs.
            self._watching.wait()
            time.sleep(_WATCH_INTERVAL)
            self._patiently(self._interrupt_overdue)
            self._patiently(self._overran_slice)

    def _interrupt_overdue(self) -> None:
        now = time.monotonic()
        with self._lock:
            if not self._running and self._inline is None:
                self._watching.clear()  # nothing to watch: rest until a job starts
            for running in self._running.values():
                if now > running.deadline:
                    running.interrupted = True
                    ctypes.pythonapi.PyThreadState_SetAsyncExc(
                        ctypes.c_ulong(running.thread_id), ctypes.py_object(Timeout))
                    # Not asking yet, it raises Timeout before it can wait; asking, it is
                    # woken (here or a round later).
                    if running.answered is not None:
                        running.answered.set()


def _has_room() -> bool:
    try:
        bytes(_ROOM_BYTES)
    except MemoryError:
        return False
    return True


def _result_frame(number: int, result: Result, retire: bool) -> bytes:
    """The frame that answers job ``number``; an output the parent would refuse (over
    ``MAX_OUTPUT_BYTES``) becomes a failure that says so, keeping the logs."""
    try:
        return protocol.encode({"op": "result", "id": number, "result": result.to_dict(),
                                "retire": retire}, protocol.MAX_WORKER_FRAME)
    except protocol.FrameTooLarge as exc:
        failed = Result.failed(errors.BAD_REQUEST, f"the function's output is too large: {exc}",
                               result.logs, result.duration_ms)
        return protocol.encode({"op": "result", "id": number, "result": failed.to_dict(),
                                "retire": retire}, protocol.MAX_WORKER_FRAME)


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
    # Before any thread starts, so that all of them inherit it.
    priority.give_way_to_event_loop()
    threading.stack_size(_STACK_SIZE)
    worker = Worker(output, config.timeout, {k: list(v) for k, v in config.modules.items()})
    # Before the cap makes allocations fail (see the module's docstring).
    jsontext.without_orjson()
    _limit_memory(config.memory_mb)
    inside.limit_resources(config.nproc)
    threading.Thread(target=worker.watch, daemon=True, name="watchdog").start()
    # Last, once start-up no longer needs what it refuses.
    inside.filter_system_calls(config.seccomp)
    # What start-up loaded stays for good: no collection need walk it again (a full one
    # walked every module the sandbox loaded, some milliseconds every few hundred jobs).
    gc.freeze()
    worker.send({"op": "ready", "pid": os.getpid(), "uid": os.getuid(),
                 "confinements": inside.active()})
    worker.serve(source)


if __name__ == "__main__":
    main()
