"""Running deliveries durably: invoke, then store what came of it before answering.

An invocation's outcome is committed before its webhook is answered: a success's messages
go to the outbox (or the embedded event store) and its objects are merged; a Retry or
Timeout goes to the retry queue with its full request; any other failure goes to the
errors log. Retries run the source as ``resolve`` finds it at retry time, so they use the
code and settings deployed then.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import sqlalchemy as sa

from runner import captures, dedup, errorlog, events, replay, retries, shadow
from runner.delivery import Deliverer, Destination
from runner.leases import Lease
from runner.observer import Observer
from runner.source import Source
from runner.store import DATABASE_FILE, Store
from runner.supervisor import Supervisor
from segfn import errors
from segfn.cache import CacheAnswer, CacheRequest
from segfn.sandbox.cachestore import CacheStores
from segfn.sandbox.egress import Egress
from segfn.sandbox.fleet import Fleet
from segfn.sandbox.invocation import (
    HttpRequest,
    Job,
    Result,
    delivery_invocation_id,
    new_invocation_id,
)
from segfn.sandbox.pool import SandboxUnavailable

STATUS = {
    errors.BAD_REQUEST: 400,
    errors.INVALID_SETTINGS: 500,
    errors.MESSAGE_REJECTED: 400,
    errors.UNSUPPORTED_EVENT_TYPE: 400,
    errors.MESSAGE_TOO_LARGE: 400,
    errors.RETRY: 202,
    errors.TIMEOUT: 202,
}
_IDLE_POLL = 0.5
# How long a retry the runner failed to run waits before it is tried again.
_HOLD_AFTER_FAULT = 5.0
# On a stop, how long retries under way and the outbox's last batches may take.
DRAIN_SECONDS = 10.0

log = logging.getLogger("segfn.runner")


@attrs.frozen
class Outcome:
    """How a webhook delivery ended: the answer to give and what the handler did."""

    status: int
    result: Result
    invocation_id: str
    attempt: int = 0
    retry_queued: bool = False
    # A redelivery of a delivery its provider named, answered as the first copy was.
    duplicate: bool = False

    def body(self) -> dict[str, Any]:
        """The JSON answer, when the handler returned no handshake ``reply``."""
        if self.result.ok:
            return {"ok": True, "duplicate": True} if self.duplicate else {"ok": True}
        assert self.result.error is not None
        return {"ok": False, "error": self.result.error.answer()}


class RunnerFault(Exception):
    """The runner, not the handler or the sender, failed an invocation (its cache, its
    sandbox); the delivery is answered 503, a retry stays queued."""


Resolver = Callable[[str], Source | None]


class Runtime:
    """The worker pools, the store and the loops that deliver and retry."""

    def __init__(self, data_dir: Path, fleet: Fleet, egress: Egress, resolve: Resolver,
                 destination: Destination | None = None,
                 policy: retries.RetryPolicy = retries.RetryPolicy(),
                 observer: Observer | None = None,
                 sealer: errorlog.Sealer | None = errorlog.PLAIN_TEXT,
                 database: str | None = None, lease: Lease | None = None) -> None:
        """``sealer`` keeps the original requests of errors-log entries whose shown request
        was redacted, so that they can be retried (None: they are not kept); ``database``
        is the URL of the state (None: the SQLite file in ``data_dir``); ``lease`` how this
        node claims outbox rows and retries from others sharing it."""
        self.data_dir = Path(data_dir)
        self.fleet = fleet
        self.egress = egress
        self.resolve = resolve
        self.policy = policy
        self.observer = observer or Observer()
        self.sealer = sealer
        self.store = Store(database or self.data_dir / DATABASE_FILE)
        self.lease = lease or Lease()
        # One per deployed source, as in the original product, so a value cached with one
        # source's settings never serves another's: cache/<function>/<source>.
        self.caches = CacheStores(self.data_dir / "cache")
        # Shadow deploys keep their own, so that they never change what live code reads.
        self.shadow_caches = CacheStores(self.data_dir / "shadow-cache")
        self._shadowing = 0
        self.supervisor = Supervisor(self.observer.loop_failed)
        self.deliverer = (Deliverer(self.store, destination, self.observer,
                                    on_error=lambda _: self.supervisor.count("delivery"),
                                    lease=self.lease)
                          if destination else None)
        self._retrying: set[str] = set()
        # Deliveries their providers named, while they run: a redelivery waits for them.
        self._running: dict[str, asyncio.Future[Outcome]] = {}
        # Retries the runner failed to run (its disk, its cache): each held back until then.
        self._held: dict[str, float] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._wake_retries = asyncio.Event()
        self.draining = False

    async def start(self) -> None:
        await self.fleet.start()
        self.supervisor.start("retries", self._retry_loop, failing=lambda: bool(self._held))
        if self.deliverer is not None:
            deliverer = self.deliverer
            self.supervisor.start("delivery", deliverer.run, failing=lambda: deliverer.failing)

    def stop_taking(self) -> None:
        """Take no more deliveries (they are answered 503): the process is stopping."""
        self.draining = True

    async def close(self, drain: float = DRAIN_SECONDS) -> None:
        """Stop: retries under way finish and the outbox empties (if the destination takes
        it), for at most ``drain`` seconds; then everything left waits in the store."""
        self.draining = True
        deadline = asyncio.get_running_loop().time() + drain
        await self.supervisor.stop("retries")
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=drain)
        if self.deliverer is not None:
            await self.deliverer.flush(deadline)
        await self.supervisor.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.fleet.close()
        await self.egress.aclose()
        if self.deliverer is not None:
            await self.deliverer.aclose()
        await self.caches.close()
        await self.shadow_caches.close()
        # What this node claimed and did not finish is any node's at once, not in 25 s.
        try:
            await self.store.run(self.lease.release)
        except sa.exc.DBAPIError:
            log.warning("the database is unreachable: this node's leases end when they "
                        "expire, in %.0f s", self.lease.seconds)
        self.store.close()

    def wake_retries(self) -> None:
        """Retries were queued from outside (a redrive): look at the queue now."""
        self._wake_retries.set()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def drop_cache(self, function: str, source: str | None = None) -> None:
        """Delete the cache of a deleted source, or of every source of a deleted function."""
        await self.caches.drop(function, *([source] if source else []))

    async def deliver(self, source: Source, request: HttpRequest) -> Outcome:
        """Run a webhook delivery and store its outcome; the answer is safe to give.

        A delivery its provider named (``runner.dedup``) runs once: a redelivery waits for
        the first copy, or gets the answer kept for it."""
        named = dedup.delivery_id(request, source.dedup_header)
        if named is None:
            return await self._run(source, request, new_invocation_id(), attempt=0,
                                   first_wait=None)
        invocation_id = delivery_invocation_id(source.id, named)
        running = self._running.get(invocation_id)
        if running is not None:
            return _again(await asyncio.shield(running))
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._running[invocation_id] = future
        try:
            outcome = await self._deliver_once(source, request, invocation_id)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: with no redelivery waiting, nothing is lost
            raise
        finally:
            del self._running[invocation_id]
        future.set_result(outcome)
        return outcome

    async def _deliver_once(self, source: Source, request: HttpRequest,
                            invocation_id: str) -> Outcome:
        kept = await self.store.read(
            functools.partial(dedup.recall, invocation_id=invocation_id, now=time.time()))
        if kept is not None:
            return Outcome(kept.status, Result(reply=kept.reply), invocation_id,
                           duplicate=True)
        return await self._run(source, request, invocation_id, attempt=0, first_wait=None,
                               remember=True)

    async def _run(self, source: Source, request: HttpRequest, invocation_id: str,
                   attempt: int, first_wait: float | None, remember: bool = False) -> Outcome:
        """``remember``: keep the answer for redeliveries (``runner.dedup``)."""
        job = Job(source.handler, request, source.settings, invocation_id, alphabetize=True,
                  settings_given_in=source.settings_given_in)
        answer = self.caches.answerer(source.function, source.id)
        faults: list[str] = []

        async def cache(asked: CacheRequest) -> CacheAnswer:
            answered = await answer(asked)
            if answered.error is not None:
                faults.append(answered.error)
            return answered

        try:
            ran = await self.fleet.invoke(source.tenant, job, self.egress, cache)
        except SandboxUnavailable as exc:
            raise RunnerFault(str(exc)) from exc
        # Secret setting values never leave in an answer, a log line or the errors log.
        result = errorlog.redacted_result(ran, source.secrets)
        if faults and not result.ok:
            # The handler failed where the runner's cache did: nothing is the sender's to drop.
            raise RunnerFault(f"the cache of source {source.id} failed: {faults[0]}")
        status = 200 if result.error is None else STATUS.get(result.error.type, 400)
        kept = dedup.Answer(status, result.reply) if remember else None
        queued = await self._settle(source, job, result, attempt, first_wait, kept)
        outcome = Outcome(status, result, invocation_id, attempt, queued)
        self.observer.invoked(source, outcome)
        if source.shadow is not None and attempt == 0:
            self._spawn(self._shadow(source, source.shadow, job, result))
        return outcome

    async def _shadow(self, source: Source, version: shadow.Shadow, job: Job,
                      live: Result) -> None:
        """Run ``job`` through the shadow ``version`` too, and keep how it compared with
        ``live`` (runner/shadow.py); a node's shadows past the bound are only counted."""
        try:
            verdict = await self._compare(source, version, job, live)
            await self.store.run(functools.partial(
                shadow.record, source=source.id, version=version.version, verdict=verdict,
                now=time.time()))
        except Exception:  # noqa: BLE001 - a shadow's count is not worth failing anything
            log.exception("a shadow of source %s was lost", source.id)

    async def _compare(self, source: Source, version: shadow.Shadow, job: Job,
                       live: Result) -> dict[str, Any]:
        if self._shadowing >= shadow.RUNNING_AT_ONCE:
            return shadow.skipped(job.invocation_id)
        self._shadowing += 1
        try:
            ran = await self.fleet.invoke(
                source.shadow_tenant, attrs.evolve(job, handler=version.handler),
                self.egress, self.shadow_caches.answerer(source.function, source.id))
        except SandboxUnavailable as exc:
            log.warning("the shadow of source %s could not run (%s): counted skipped",
                        source.id, exc)
            return shadow.skipped(job.invocation_id)
        finally:
            self._shadowing -= 1
        return replay.compare(job.invocation_id, live.messages if live.ok else [],
                              None if live.error is None else live.error.to_dict(),
                              errorlog.redacted_result(ran, source.secrets))

    async def _settle(self, source: Source, job: Job, result: Result, attempt: int,
                      first_wait: float | None, kept: dedup.Answer | None) -> bool:
        """Commit what came of an invocation, and ``kept`` with it (the answer kept for
        redeliveries) unless it failed; True when a retry was queued."""
        invocation_id = job.invocation_id

        def keep(db: Any) -> None:
            if kept is not None:
                dedup.remember(db, invocation_id, kept, time.time())

        # Only a retry, or a delivery its provider named, may have one queued: a first
        # attempt's new random id has none, and the delete is spared.
        queued_before = attempt > 0 or kept is not None

        if result.ok:
            def accept(db: Any) -> None:
                events.save_result(db, source.id, invocation_id, result,
                                   outbox=self.deliverer is not None,
                                   write_key=source.write_key, workspace=source.workspace)
                if queued_before:
                    retries.remove(db, invocation_id)
                self._capture(db, source, job, result)
                keep(db)

            await self.store.run(accept)
            if self.deliverer is not None:
                self.deliverer.notify()
            return False
        assert result.error is not None
        if result.error.type in errors.RETRYABLE and attempt < self.policy.max_retries:
            first = first_wait if first_wait is not None else self.policy.first_wait()
            why = f"{result.error.type}: {result.error.located}"

            def queue(db: Any) -> None:
                retries.schedule(db, self.policy, invocation_id=invocation_id,
                                 source=source.id, request=job.request, attempt=attempt + 1,
                                 first_wait=first, error=why)
                # A redelivery meanwhile is answered 202 too: the queued retry will run it.
                keep(db)

            await self.store.run(queue)
            self._wake_retries.set()
            return True

        def log(db: Any) -> None:
            errorlog.record_error(db, source=source.id, function=source.function,
                                  invocation_id=invocation_id, request=job.request,
                                  result=result, attempts=attempt + 1, secrets=source.secrets,
                                  sealer=self.sealer)
            retries.remove(db, invocation_id)
            self._capture(db, source, job, result)
            # Its retries failed too: the answer kept when the first was queued goes.
            dedup.forget(db, invocation_id)

        await self.store.run(log)
        return False

    def _capture(self, db: Any, source: Source, job: Job, result: Result) -> None:
        # Without a sealer (a service with no key) nothing is kept: the service refuses
        # capture_days then, so this is a source configured before the key went away.
        if source.capture_days and self.sealer is not None:
            captures.capture(db, source=source.id, invocation_id=job.invocation_id,
                             request=job.request, result=result, days=source.capture_days,
                             sealer=self.sealer)

    async def _retry_loop(self) -> None:
        while True:
            self._wake_retries.clear()
            now = time.time()
            pending = await self.store.run(
                functools.partial(retries.due, now=now, lease=self.lease))
            for retry in pending:
                if (retry.invocation_id not in self._retrying
                        and self._held.get(retry.invocation_id, 0) <= now):
                    self._retrying.add(retry.invocation_id)
                    self._spawn(self._retry(retry))
            upcoming = await self.store.read(retries.next_due)
            wait = _IDLE_POLL if upcoming is None else upcoming - time.time()
            # asyncio.timeout, not wait_for: in Python 3.11 wait_for drops a cancellation
            # that comes once the event is set, and a stop would never end this loop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(max(wait, 0.01), _IDLE_POLL)):
                    await self._wake_retries.wait()

    async def _retry(self, retry: retries.PendingRetry) -> None:
        try:
            source = self.resolve(retry.source)
            if source is None:
                gone = Result.failed(errors.INVALID_SETTINGS,
                                     f"source {retry.source} no longer exists")

                def forget(db: Any) -> None:
                    errorlog.record_error(db, source=retry.source, function="",
                                          invocation_id=retry.invocation_id,
                                          request=retry.request, result=gone,
                                          attempts=retry.attempt, sealer=self.sealer)
                    retries.remove(db, retry.invocation_id)

                await self.store.run(forget)
                return
            holding = asyncio.get_running_loop().create_task(
                self._keep_leased(retry.invocation_id))
            try:
                await self._run(source, retry.request, retry.invocation_id, retry.attempt,
                                retry.first_wait)
            finally:
                holding.cancel()
            self._held.pop(retry.invocation_id, None)
        except Exception:  # noqa: BLE001 - the retry stays queued; it runs again later
            log.exception("retry %s could not run; it stays queued", retry.invocation_id)
            self.supervisor.count("retries")
            self._held[retry.invocation_id] = time.time() + _HOLD_AFTER_FAULT
        finally:
            self._retrying.discard(retry.invocation_id)

    async def _keep_leased(self, invocation_id: str) -> None:
        """Renew a running retry's lease, however long it waits for a worker, so that no
        other node runs it meanwhile."""
        while True:
            await asyncio.sleep(self.lease.seconds / 3)
            await self.store.run(functools.partial(retries.renew, invocation_id=invocation_id,
                                                   lease=self.lease))


def _again(first: Outcome) -> Outcome:
    """The answer to a redelivery that waited for the first copy: the same one."""
    return attrs.evolve(first, duplicate=first.result.ok)
