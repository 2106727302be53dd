"""The parent side of the sandbox: long-lived worker processes and the jobs sent to them.

A job goes to the first worker that keeps up with its jobs: they are all young, and at
the pace its last jobs ran, those it has will be done within a few milliseconds. The
others then sleep, which costs nothing, where several half-busy workers each wake for
every few jobs (on 2 cores, one worker served 7-9% more light requests a second than two
sharing them). When none keeps up, the job goes to the worker with the fewest jobs using
the CPU. A worker takes more (up to 16) only while the jobs it is running are young, so
that it never sits idle waiting for the parent to hand it the next job, yet a
long-running job never has another queued behind it for long. A job that waits on
``fetch`` frees its worker meanwhile, so IO-bound handlers scale with concurrency.

Every job has a hard deadline (the time limit plus a grace period): a worker still busy
then is killed and replaced. That kill, not the worker's own interruption, is what
guarantees the limit.

A job never runs twice behind its caller's back (it may have charged a card): the other
jobs of a worker that dies, killed at a neighbour's deadline or crashed while several jobs
were on it, end as Retry, which the runner stores and runs again as a counted attempt. Only
the job that ran past its time fails for it (Timeout), and a crash with one job on the
worker is that job's (BadRequest).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import signal
import sys
import threading
import warnings
from collections.abc import Coroutine, Mapping, Sequence
from typing import IO, Any, TypeVar

import attrs

from segfn import errors
from segfn.cache import CacheAnswer, CacheAnswerer, CacheRequest
from segfn.fetch import FetchAnswer, Fetcher, FetchRequest
from segfn.sandbox import protocol
from segfn.sandbox.confine import bwrap, inside
from segfn.sandbox.confine.config import ENVIRONMENT, WorkerConfig
from segfn.sandbox.confine.plan import Plan, decide
from segfn.sandbox.invocation import Job, Result, cut, timed_out

T = TypeVar("T")

_MAX_START_FAILURES = 3
# How long close() waits for each killed worker to be gone.
_CLOSE_WAIT = 10.0

log = logging.getLogger("segfn.sandbox")
# A worker takes another job only while it runs fewer than _PIPELINE_DEPTH, all younger
# than _PIPELINE_WINDOW. The parent reads results and sends jobs between turns of its
# event loop, some milliseconds apart under load: at a depth of 4, a worker ran its four
# small jobs in 2 ms and then waited, a third busy, while jobs queued in the parent.
_PIPELINE_DEPTH = 16
_PIPELINE_WINDOW = 0.05
# A worker keeps up (module docstring) while its jobs are younger than this and would be
# done within it at its pace. Jobs that run longer spread over the workers as they come.
_KEEPING_UP = 0.005
# The weight of a job's own time in its worker's pace.
_PACE_WEIGHT = 0.2
# Bytes read from a worker's stdout at a time: whatever frames have arrived, in one read.
_READ_SIZE = 256 * 1024


@attrs.frozen
class Limits:
    """Per-invocation limits: wall-clock seconds and memory a worker may grow by (MiB)."""

    timeout: float = attrs.field(default=5.0, validator=attrs.validators.gt(0))
    memory_mb: int = attrs.field(default=256, validator=attrs.validators.gt(0))
    grace: float = attrs.field(default=1.0, validator=attrs.validators.ge(0))

    @property
    def deadline(self) -> float:
        """Seconds after a job is sent that a worker still running it is killed."""
        return self.timeout + self.grace


class SandboxUnavailable(RuntimeError):
    """No worker of the pool can start: the runner's fault, never the job's or its sender's,
    so the job is not run and nothing is said about its code."""


class ConfinementWarning(UserWarning):
    """Workers run without a confinement this machine does not allow."""


@attrs.frozen
class WorkerInfo:
    """A ready worker as the runner sees it: its pid, its uid and what confines it."""

    pid: int
    uid: int
    confinements: tuple[str, ...]


async def _no_fetch(requests: list[FetchRequest], budget: float) -> list[FetchAnswer]:
    return [FetchAnswer.failed("fetch is not available here") for _ in requests]


async def _no_cache(request: CacheRequest) -> CacheAnswer:
    """A job run without a store: every get misses, nothing is kept."""
    return CacheAnswer()


@attrs.define(eq=False)
class _Call:
    job: Job
    fetcher: Fetcher
    cache: CacheAnswerer
    future: asyncio.Future[Result]
    overdue: bool = False
    sent_at: float = 0.0


@attrs.define(eq=False)
class _Worker:
    process: asyncio.subprocess.Process
    # The worker's own pid, once it is ready: under bwrap not the process the pool started.
    pid: int
    info: WorkerInfo | None = None
    ready: asyncio.Event = attrs.field(factory=asyncio.Event)
    calls: dict[int, _Call] = attrs.field(factory=dict)
    fetching: set[int] = attrs.field(factory=set)
    # Jobs with a cache request unanswered: one at a time each, as a worker asks them.
    caching: set[int] = attrs.field(factory=set)
    retiring: bool = False
    killed: bool = False
    # Why the parent killed it, for the jobs that go down with it.
    fault: str | None = None
    # Seconds its jobs take to run, averaged over the last few; None before the first.
    pace: float | None = None
    # The keys of the handlers it keeps (their sources need not be sent again).
    handlers: protocol.Kept[bool] = attrs.field(factory=protocol.Kept)
    # Frames to write at the end of this turn of the event loop (``send``).
    outgoing: list[bytes] = attrs.field(factory=list)
    # Set for the deadline of its oldest job, or a job's since done (see ``_deadline``).
    deadline: asyncio.TimerHandle | None = None

    @property
    def busy(self) -> int:
        """Jobs using the CPU: in flight and not waiting on a fetch."""
        return len(self.calls) - len(self.fetching)

    def send(self, message: dict[str, Any]) -> None:
        """Queue ``message`` (``FrameTooLarge`` if it is over the limit): every frame sent
        to a worker in one turn of the event loop leaves in one write, since each write to
        a pipe wakes the worker and costs a system call of its own."""
        frame = protocol.encode(message)
        if not self.outgoing:
            asyncio.get_running_loop().call_soon(self._flush)
        self.outgoing.append(frame)

    def _flush(self) -> None:
        frames, self.outgoing = self.outgoing, []
        if self.process.returncode is None and not self.killed:
            assert self.process.stdin is not None
            self.process.stdin.write(b"".join(frames))


class WorkerPool:
    """Runs jobs in ``size`` sandbox worker processes, confined as ``plan`` says (by
    default as far as this machine allows, with a ``ConfinementWarning`` naming what is
    missing). The workers' stderr (their ``print`` and crashes) goes to ``stderr``."""

    def __init__(self, size: int = 2, limits: Limits = Limits(),
                 modules: Mapping[str, Sequence[str]] | None = None, *,
                 plan: Plan | None = None, stderr: IO[Any] | int | None = None) -> None:
        if size < 1:
            raise ValueError("a pool needs at least one worker")
        self.size = size
        self.limits = limits
        # Extra modules the operator exposes to handlers: module name to exposed names.
        self.modules = {name: list(names) for name, names in (modules or {}).items()}
        self._workers: list[_Worker] = []
        self._queue: collections.deque[_Call] = collections.deque()
        self._numbers = iter(range(1, sys.maxsize))
        self._closing = False
        self._start_failure: str | None = None
        self._start_failures = 0
        self._spawning: set[asyncio.Future[None]] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.plan = plan
        self._stderr = stderr
        self._layout = bwrap.layout(self.modules)

    async def start(self) -> None:
        """Start the workers and wait until each is ready."""
        if self.plan is None:
            self.plan = await asyncio.to_thread(decide)
            if self.plan.missing:
                warnings.warn("sandbox workers run without: " + "; ".join(self.plan.missing),
                              ConfinementWarning, stacklevel=2)
        await asyncio.gather(*(self._spawn() for _ in range(self.size)))
        await asyncio.gather(*(w.ready.wait() for w in self._workers))
        if self._start_failure is not None:
            await self.close()
            raise SandboxUnavailable(
                f"a sandbox worker failed to start: {self._start_failure}")

    async def close(self) -> None:
        self._closing = True
        if self._spawning:
            await asyncio.wait(list(self._spawning))
        # Every worker, even one whose exit was reported: asyncio reports 255 for a child
        # another waiter reaped, while bwrap's init and the worker may live on, holding the
        # pipes that wait() waits on.
        for worker in list(self._workers):
            if worker.process.returncode is None or _our_child(worker.process.pid):
                bwrap.kill(worker.process)
        for worker in list(self._workers):
            await _gone(worker.process)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # Nobody awaiting a job may hang: fail what was queued or still running.
        pending = [*self._queue, *(c for w in self._workers for c in w.calls.values())]
        self._queue.clear()
        for call in pending:
            if not call.future.done():
                call.future.set_exception(RuntimeError("the worker pool is closed"))

    async def __aenter__(self) -> WorkerPool:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def pids(self) -> list[int]:
        return [w.pid for w in self._workers]

    @property
    def workers(self) -> list[WorkerInfo]:
        """The ready workers."""
        return [w.info for w in self._workers if w.info is not None]

    async def invoke(self, job: Job, fetcher: Fetcher | None = None,
                     cache: CacheAnswerer | None = None) -> Result:
        """Run ``job`` in a worker; ``fetcher`` performs the handler's fetch calls and
        ``cache`` answers its cache calls from the store of the source it runs for."""
        if self._closing:
            raise RuntimeError("the worker pool is closed")
        call = _Call(job, fetcher or _no_fetch, cache or _no_cache,
                     asyncio.get_running_loop().create_future())
        self._queue.append(call)
        self._dispatch()
        return await call.future

    def _background(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _spawn(self) -> None:
        assert self.plan is not None, "start() decides the plan"
        plan = self.plan
        config = WorkerConfig(self.limits.timeout, self.limits.memory_mb, self.modules,
                              plan.account, plan.seccomp,
                              inside.task_limit(self.size) if plan.account else None)
        python = self._layout.python()
        if plan.bwrap is None:
            argv, env = python, dict(ENVIRONMENT)
        else:
            argv, env = bwrap.command(plan.bwrap, self._layout, python, ENVIRONMENT), {}
        process = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=self._stderr, env=env, start_new_session=True)
        worker = _Worker(process, process.pid)
        worker.send({"op": "configure", "config": config.to_dict()})
        self._workers.append(worker)
        self._background(self._read(worker))

    def _started(self, worker: _Worker, message: dict[str, Any]) -> None:
        if self.plan is not None and self.plan.bwrap is not None:
            worker.pid = bwrap.worker_pid(worker.pid) or worker.pid
        confinements = protocol.field(message, "confinements", list)
        if not all(type(name) is str and len(name) <= 64 for name in confinements):
            raise protocol.ProtocolError("ready frame: confinements are not short strings")
        worker.info = WorkerInfo(worker.pid, protocol.field(message, "uid", int),
                                 tuple(confinements))
        worker.ready.set()

    def _pick(self) -> _Worker | None:
        """The first worker that keeps up, else the least busy that can take a job (see
        the module docstring)."""
        now = asyncio.get_running_loop().time()
        best: _Worker | None = None
        for worker in self._workers:
            if not (worker.ready.is_set() and not worker.retiring
                    and worker.process.returncode is None
                    and len(worker.calls) < protocol.MAX_JOBS_PER_WORKER):
                continue
            age = _oldest_age(worker, now)
            if _keeps_up(worker, age):
                return worker
            if (_can_take(worker, age) and (best is None or (worker.busy, len(worker.calls))
                                            < (best.busy, len(best.calls)))):
                best = worker
        return best

    def _dispatch(self) -> None:
        while self._queue:
            worker = self._pick()
            if worker is None:
                return
            call = self._queue.popleft()
            if call.future.done():
                continue
            number = next(self._numbers)
            worker.calls[number] = call
            call.sent_at = asyncio.get_running_loop().time()
            if worker.deadline is None:
                self._watch(worker, call.sent_at)
            key = call.job.handler.key
            worker.send({"op": "invoke", "id": number,
                         "job": call.job.to_dict(source=key not in worker.handlers)})
            # Once sent: the worker keeps what it reads, and only that.
            worker.handlers.keep(key, True)

    def _watch(self, worker: _Worker, sent_at: float) -> None:
        """Wake at the hard deadline of the job of ``worker`` sent at ``sent_at``."""
        worker.deadline = asyncio.get_running_loop().call_at(
            sent_at + self.limits.deadline, self._deadline, worker)

    def _deadline(self, worker: _Worker) -> None:
        """The deadline of a job of ``worker``: if its oldest job is past its own, kill the
        worker; else wait for that one. One timer a worker, not one a job: setting and
        cancelling one cost a few microseconds a job, and jobs are sent oldest first with
        the same limit, so the oldest is the first due."""
        worker.deadline = None
        # Once killed, its other jobs are neighbours of the one overdue, however old.
        if not worker.calls or worker.killed or worker.process.returncode is not None:
            return
        oldest = next(iter(worker.calls.values()))
        if asyncio.get_running_loop().time() - oldest.sent_at >= self.limits.deadline:
            oldest.overdue = True
            self._kill(worker, "killed at another invocation's time limit")
        else:
            self._watch(worker, oldest.sent_at)

    def _kill(self, worker: _Worker, fault: str | None = None) -> None:
        """Kill ``worker``; nothing more is sent to it while it dies."""
        worker.retiring = True
        worker.fault = worker.fault or fault
        if worker.process.returncode is None:
            worker.killed = True
            bwrap.kill(worker.process)

    async def _read(self, worker: _Worker) -> None:
        stdout = worker.process.stdout
        assert stdout is not None
        frames = protocol.Frames()
        while chunk := await stdout.read(_READ_SIZE):
            try:
                for message in frames.feed(chunk):
                    self._handle(worker, message)
            except Exception as exc:  # noqa: BLE001 - a worker that breaks the protocol dies
                # It may still be alive and waiting: without the kill, wait() never returns.
                self._kill(worker, cut(f"protocol error: {exc}", 200))
                break
        await worker.process.wait()
        _close_stdin(worker.process)
        self._lost(worker)

    def _handle(self, worker: _Worker, message: dict[str, Any]) -> None:
        """Act on one frame from ``worker``; a frame of the wrong shape raises
        (``ProtocolError``, ``TypeError``, ``ValueError``, ``KeyError``), and ``_read``
        kills the worker for it."""
        op = message.get("op")
        if op == "result":
            self._on_result(worker, message)
        elif op == "fetch":
            self._on_fetch(worker, message)
        elif op == "exhausted":
            # It freed its reserve to keep reading: it takes nothing more, and is replaced
            # once the jobs it runs are done.
            worker.retiring = True
            if not worker.calls:
                self._kill(worker)
        elif op == "cache":
            self._on_cache(worker, message)
        elif op == "ready" and not worker.ready.is_set():
            self._started(worker, message)
        else:
            raise protocol.ProtocolError("a frame of no known kind")
        self._dispatch()

    def _on_result(self, worker: _Worker, message: dict[str, Any]) -> None:
        number = _job_id(worker, message)
        retire = protocol.field(message, "retire", bool)
        result = Result.from_dict(message["result"])
        call = worker.calls.pop(number)
        worker.fetching.discard(number)
        ran = result.duration_ms / 1000
        worker.pace = ran if worker.pace is None else (
            worker.pace + _PACE_WEIGHT * (ran - worker.pace))
        self._finish(call, result)
        if retire:
            worker.retiring = True
        if worker.retiring and not worker.calls:
            self._kill(worker)

    def _on_fetch(self, worker: _Worker, message: dict[str, Any]) -> None:
        number = _job_id(worker, message)
        if number in worker.fetching:
            raise protocol.ProtocolError("a second fetch before the first was answered")
        requests = [FetchRequest.from_dict(request)
                    for request in protocol.field(message, "requests", list)]
        budget = protocol.field(message, "budget", int, float)
        worker.fetching.add(number)
        self._background(self._fetch(worker, number, requests, budget))

    async def _fetch(self, worker: _Worker, number: int, requests: list[FetchRequest],
                     budget: float) -> None:
        try:
            answers = await worker.calls[number].fetcher(requests, float(budget))
        except Exception as exc:  # noqa: BLE001 - a fetcher's failure is the handler's answer
            answers = [FetchAnswer.failed(f"fetch failed: {exc}") for _ in requests]
        worker.fetching.discard(number)
        if number not in worker.calls or worker.process.returncode is not None:
            return
        try:
            worker.send({"op": "fetched", "id": number,
                         "answers": [answer.to_dict() for answer in answers]})
        except protocol.FrameTooLarge as exc:
            worker.send({"op": "fetched", "id": number,
                         "answers": [FetchAnswer.failed(f"fetch failed: {exc}").to_dict()
                                     for _ in requests]})

    def _on_cache(self, worker: _Worker, message: dict[str, Any]) -> None:
        number = _job_id(worker, message)
        request = CacheRequest.from_dict(protocol.field(message, "request", dict))
        if number in worker.caching:
            # An honest worker waits for each answer; the read loop kills this one.
            raise protocol.ProtocolError("a second cache request before the first was answered")
        worker.caching.add(number)
        self._background(self._answer_cache(worker, number, request))

    async def _answer_cache(self, worker: _Worker, number: int, request: CacheRequest) -> None:
        try:
            answer = await worker.calls[number].cache(request)
        except Exception as exc:  # noqa: BLE001 - a store's failure is the handler's answer
            answer = CacheAnswer(error=f"{type(exc).__name__}: {exc}")
        finally:
            worker.caching.discard(number)
        if number in worker.calls and worker.process.returncode is None:
            worker.send({"op": "cached", "id": number, "answer": answer.to_dict()})

    def _finish(self, call: _Call, result: Result) -> None:
        if not call.future.done():
            call.future.set_result(result)

    def _lost(self, worker: _Worker) -> None:
        """A worker exited: settle or re-run its jobs, and start a replacement."""
        self._workers.remove(worker)
        reason = worker.fault or _exit_reason(worker.process.returncode)
        if worker.ready.is_set():
            self._start_failure, self._start_failures = None, 0
        else:
            self._start_failure, self._start_failures = reason, self._start_failures + 1
            worker.ready.set()  # wakes start(), which reports the failure
            if self._start_failures >= _MAX_START_FAILURES:
                self._fail_queue(f"sandbox workers cannot start: {reason}")
        several = len(worker.calls) > 1
        if worker.deadline is not None:
            worker.deadline.cancel()
        for call in worker.calls.values():
            if call.future.done():
                continue
            if self._closing:
                call.future.set_exception(RuntimeError("the worker pool is closed"))
            elif call.overdue:
                self._finish(call, Result.failed(errors.TIMEOUT,
                                                 timed_out(self.limits.timeout)))
            elif several:
                self._finish(call, Result.failed(
                    errors.RETRY, f"the worker running this invocation and others was lost "
                    f"({reason}); it is to run again"))
            else:
                self._finish(call, Result.failed(errors.BAD_REQUEST,
                                                 f"worker crashed: {reason}"))
        worker.calls.clear()
        if not self._closing:
            self._background(self._replace())

    async def _replace(self) -> None:
        if self._start_failures:
            # A worker that dies at start-up will likely die again: don't spin.
            await asyncio.sleep(min(0.1 * 2 ** self._start_failures, 5.0))
        if self._closing:
            return
        # Shielded: asyncio's answer to a process creation cancelled half-way is to kill
        # bwrap alone and wait for its pipes, which the worker inside may hold open for
        # good; close() waits for the spawn and then kills the three processes itself.
        spawning = asyncio.ensure_future(self._spawn())
        self._spawning.add(spawning)
        spawning.add_done_callback(self._spawning.discard)
        await asyncio.shield(spawning)
        self._dispatch()

    def _fail_queue(self, message: str) -> None:
        while self._queue:
            call = self._queue.popleft()
            if not call.future.done():
                call.future.set_exception(SandboxUnavailable(message))


def _our_child(pid: int) -> bool:
    """Whether ``pid`` is still a child of this process (so not a reused pid)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            # The parent pid is the second field after the command, which is in parentheses.
            return int(stat.read().rsplit(")", 1)[1].split()[1]) == os.getpid()
    except (OSError, IndexError, ValueError):
        return False


async def _gone(process: asyncio.subprocess.Process) -> None:
    """Wait for a killed worker to exit and close its pipes, ``_CLOSE_WAIT`` at most: a
    pool's close never hangs on a process that will not go."""
    try:
        await asyncio.wait_for(process.wait(), _CLOSE_WAIT)
    except TimeoutError:
        log.warning("sandbox worker %d did not exit within %g s of SIGKILL; left behind",
                    process.pid, _CLOSE_WAIT)
    _close_stdin(process)


def _close_stdin(process: asyncio.subprocess.Process) -> None:
    # The pipe to a worker that is gone: left open, it keeps the process's transport alive
    # until the garbage collector closes it, by then perhaps on an event loop closed.
    if process.stdin is not None:
        process.stdin.close()


def _job_id(worker: _Worker, message: dict[str, Any]) -> int:
    """The frame's job id, which must be one of the jobs ``worker`` is running."""
    number = protocol.field(message, "id", int)
    if number not in worker.calls:
        raise protocol.ProtocolError(f"{message['op']} frame for a job the worker does not have")
    return number


def _can_take(worker: _Worker, age: float) -> bool:
    """Whether a worker whose oldest job is ``age`` seconds old may start another now (see
    the module docstring)."""
    return worker.busy < _PIPELINE_DEPTH and age < _PIPELINE_WINDOW


def _keeps_up(worker: _Worker, age: float) -> bool:
    """Whether ``worker``, its oldest job ``age`` seconds old, keeps up with its jobs (see
    the module docstring)."""
    return (worker.pace is not None and worker.busy * worker.pace < _KEEPING_UP
            and age < _KEEPING_UP)


def _oldest_age(worker: _Worker, now: float) -> float:
    """Seconds since the oldest job of ``worker`` using the CPU was sent; 0 with none."""
    # Jobs are kept in the order they were sent: the first not fetching is the oldest.
    for number, call in worker.calls.items():
        if number not in worker.fetching:
            return now - call.sent_at
    return 0.0


def _exit_reason(code: int | None) -> str:
    # bwrap exits 128 + N for a worker killed by signal N.
    if code is not None and code > 128 and code - 128 in signal.valid_signals():
        code = 128 - code
    if code is not None and code < 0:
        return f"killed by signal {signal.Signals(-code).name}"
    return f"exit code {code}"


class BlockingPool:
    """A ``WorkerPool`` for code that is not async: the CLI and the pytest plugin."""

    def __init__(self, size: int = 1, limits: Limits = Limits(),
                 modules: Mapping[str, Sequence[str]] | None = None, *,
                 plan: Plan | None = None) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="segfn-pool")
        self._thread.start()
        self.pool = WorkerPool(size, limits, modules, plan=plan)
        self.run(self.pool.start())

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the pool's event loop, where its fetchers run, and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def invoke(self, job: Job, fetcher: Fetcher | None = None,
               cache: CacheAnswerer | None = None) -> Result:
        return self.run(self.pool.invoke(job, fetcher, cache))

    def close(self) -> None:
        self.run(self.pool.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> BlockingPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
