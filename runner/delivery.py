"""Sending outbox messages to a Segment-compatible Tracking API (``POST /v1/batch``).

Messages leave the outbox only when the API has taken them (2xx) or has refused them
for good (a 4xx other than 408 and 429). A refused batch is split in halves, each sent on
its own, until the messages refused are alone: only those become dead letters, each with
its source, workspace, status and answer. Anything else (408, 429, 5xx, a redirect, no
connection) is tried again, backing off from 1 s, doubling up to 5 minutes, with jitter,
or as ``Retry-After`` says (seconds or an HTTP date), never longer than that maximum.
Redirects are not followed: a POST answered 3xx is not delivered.

Each source may have its own write key, and each write key is a lane of its own: its
batches hold its messages only (NULL: the destination's key), and its backoff, its
``Retry-After`` and its dead letters never delay another lane.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
import time
from collections.abc import Callable, Collection, Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import attrs
import sqlalchemy as sa

from runner.db import schema
from runner.leases import Lease
from runner.observer import Observer
from runner.store import Db, Store
from segfn.identities import utc_iso

MAX_BATCH_BYTES = 500_000
MAX_BATCH_MESSAGES = 2500
FLUSH_AFTER = 0.2
# Well inside the lease of a batch (runner.leases), so no other node sends it meanwhile.
POST_TIMEOUT = 15.0
FIRST_BACKOFF = 1.0
MAX_BACKOFF = 300.0
# What of an answer's body is kept with a dead letter: read no further, decoded leniently.
MAX_RESPONSE_BYTES = 16_384
MAX_RESPONSE_CHARS = 10_000
# Refusals of the write key itself: every message would be refused, so none is split.
_KEY_REFUSED = (401, 403)
# Room for {"batch":[...],"sentAt":"..."} around the messages.
_ENVELOPE_BYTES = 64


@attrs.frozen
class Destination:
    """A Tracking API: its base URL and the write key of messages without their own.

    ``write_key`` may be "" when every source brings its own key.
    """

    endpoint: str = attrs.field(converter=lambda url: url.rstrip("/"))
    write_key: str

    @property
    def batch_url(self) -> str:
        return f"{self.endpoint}/v1/batch"


@attrs.frozen
class Row:
    """One outbox message: its row id, its JSON, and whose it is."""

    id: int
    message: str
    source: str
    workspace: str


log = logging.getLogger("segfn.runner")


_OUTBOX = schema.outbox


def _under(key: str | None) -> sa.ColumnElement[bool]:
    """Rows under write key ``key`` (None: the destination's), as an index can find them."""
    column = _OUTBOX.c.write_key
    return column.is_(None) if key is None else column == key


def take_batch(db: Db, key: str | None, lease: Lease, skip: Collection[int] = ()) -> list[Row]:
    """The oldest rows under ``key`` that fit one batch and no other node holds, but those
    in ``skip``, leased to this node."""
    now = time.time()
    found = lease.lock(db, sa.select(_OUTBOX.c.id, _OUTBOX.c.message, _OUTBOX.c.source,
                                     _OUTBOX.c.workspace)
                       .where(_under(key), lease.claimable(_OUTBOX, now))
                       .order_by(_OUTBOX.c.id).limit(MAX_BATCH_MESSAGES + len(skip)))
    batch = _fitting(found, skip)
    lease.hold(db, _OUTBOX.c.id, [r.id for r in batch], now)
    return batch


def _fitting(found: Iterable[sa.Row[Any]], skip: Collection[int]) -> list[Row]:
    """The first of ``found`` (but those in ``skip``) that fit one batch."""
    batch: list[Row] = []
    size = _ENVELOPE_BYTES
    for r in found:
        if r.id in skip:
            continue
        size += len(r.message.encode("utf-8")) + 1
        if batch and (size > MAX_BATCH_BYTES or len(batch) == MAX_BATCH_MESSAGES):
            break
        batch.append(Row(r.id, r.message, r.source, r.workspace))
    return batch


def waiting_keys(db: Db) -> list[str | None]:
    """The write keys that have messages in the outbox: one lane each."""
    return list(db.execute(sa.select(_OUTBOX.c.write_key).distinct()).scalars())


def outbox_empty(db: Db) -> bool:
    return db.execute(sa.select(_OUTBOX.c.id).limit(1)).first() is None


def basic_auth(write_key: str) -> str:
    """The Authorization header Segment expects: the write key as user, no password."""
    # Built here: aiohttp.BasicAuth is deprecated, and its replacement is not in 3.9.
    return "Basic " + base64.b64encode(f"{write_key}:".encode()).decode("ascii")


def batch_body(rows: list[Row]) -> str:
    sent_at = utc_iso(datetime.now(UTC))
    return '{"batch":[' + ",".join(r.message for r in rows) + f'],"sentAt":"{sent_at}"}}'


def delete_rows(db: Db, ids: Collection[int]) -> None:
    if ids:
        db.execute(_OUTBOX.delete().where(_OUTBOX.c.id.in_(list(ids))))


def dead_letter(db: Db, rows: list[Row], status: int, response: str) -> None:
    """Move ``rows`` to the dead letters, one a message, each with whose it is."""
    now = time.time()
    db.execute(schema.dead_letters.insert(), [
        {"at": now, "status": status, "response": response, "batch": batch_body([r]),
         "source": r.source, "workspace": r.workspace} for r in rows])
    delete_rows(db, [r.id for r in rows])


def read_dead_letters(db: Db, source: str | None = None,
                      limit: int = 1000) -> list[dict[str, Any]]:
    """Dead letters, oldest first; of one source if given."""
    letters = schema.dead_letters
    query = sa.select(letters)
    if source is not None:
        query = query.where(letters.c.source == source)
    rows = db.execute(query.order_by(letters.c.id).limit(limit)).mappings()
    return [{"id": r["id"], "at": r["at"], "source": r["source"],
             "workspace": r["workspace"], "status": r["status"], "response": r["response"],
             "batch": json.loads(r["batch"])} for r in rows]


def retry_after(value: str, now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` asks for (a number or an HTTP date), at most
    ``MAX_BACKOFF``; None when it says nothing usable."""
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - (now or time.time())
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if seconds != seconds:  # NaN
        return None
    return min(max(0.0, seconds), MAX_BACKOFF)


@attrs.frozen
class Answered:
    status: int
    text: str
    wait: float | None

    @property
    def refused(self) -> bool:
        return 400 <= self.status < 500 and self.status not in (408, 429)


class Deliverer:
    """The loop that empties the outbox into the destination, one lane a write key.

    ``observer`` hears of every send that did not take the batch. ``on_error`` hears of
    every exception a lane survived (a full disk); ``failing`` is true while a lane's last
    attempt ended in one.
    """

    def __init__(self, store: Store, destination: Destination,
                 observer: Observer | None = None,
                 on_error: Callable[[BaseException], None] | None = None,
                 lease: Lease | None = None) -> None:
        self._store = store
        self._destination = destination
        self._lease = lease or Lease()
        self._observer = observer or Observer()
        self._on_error = on_error
        self._session: aiohttp.ClientSession | None = None
        self._wake = asyncio.Event()
        self._lanes: dict[str | None, asyncio.Task[None]] = {}
        self._failing: set[str | None] = set()

    @property
    def failing(self) -> bool:
        return bool(self._failing)

    def notify(self) -> None:
        """Messages were added; deliver within ``FLUSH_AFTER`` seconds."""
        self._wake.set()

    async def run(self) -> None:
        try:
            while True:
                self._wake.clear()
                for key in await self._store.read(waiting_keys):
                    if key not in self._lanes:
                        self._lanes[key] = asyncio.get_running_loop().create_task(
                            self._lane(key), name=f"segfn-lane-{key}")
                await self._idle()
        finally:
            lanes = list(self._lanes.values())
            for lane in lanes:
                lane.cancel()
            await asyncio.gather(*lanes, return_exceptions=True)

    async def flush(self, deadline: float) -> None:
        """Wait, until ``deadline`` (the event loop's clock) at most, for an empty outbox."""
        loop = asyncio.get_running_loop()
        while loop.time() < deadline:
            if await self._store.read(outbox_empty):
                return
            self.notify()
            await asyncio.sleep(0.1)

    async def _idle(self) -> None:
        try:
            # Not wait_for, which drops a stop that comes as the event is set (runtime.py).
            async with asyncio.timeout(1.0):
                await self._wake.wait()
        except TimeoutError:
            return
        # Let the rest of a burst arrive, so it leaves as one batch.
        await asyncio.sleep(FLUSH_AFTER)

    async def _lane(self, key: str | None) -> None:
        """Send ``key``'s messages until none is left, backing off on its own."""
        taken: set[int] = set()  # sent and taken, but not yet deleted: never sent again
        backoff = FIRST_BACKOFF
        try:
            while True:
                try:
                    if taken:
                        await self._forget(taken, set(taken))
                    rows = await self._store.run(
                        lambda db: take_batch(db, key, self._lease, taken))
                    if not rows:
                        return
                    wait = await self._deliver(key, rows, taken)
                    self._failing.discard(key)
                except Exception as exc:  # noqa: BLE001 - a lane outlives any fault
                    log.exception("delivery under write key %s failed; trying again",
                                  "(default)" if key is None else f"…{key[-4:]}")
                    self._failing.add(key)
                    if self._on_error is not None:
                        self._on_error(exc)
                    wait = 0
                if wait is None:
                    backoff = FIRST_BACKOFF
                elif wait > 0:
                    await asyncio.sleep(wait)
                else:
                    await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
                    backoff = min(backoff * 2, MAX_BACKOFF)
        finally:
            self._failing.discard(key)
            del self._lanes[key]

    async def _deliver(self, key: str | None, rows: list[Row],
                       taken: set[int]) -> float | None:
        """Send ``rows``; None when they all left the outbox, else seconds to wait (0:
        back off)."""
        answer = await self._post(key, rows)
        if answer is None:
            self._failed("network")
            return 0
        if 200 <= answer.status < 300:
            ids = {r.id for r in rows}
            taken |= ids
            await self._forget(taken, ids)
            return None
        self._failed(f"status {answer.status}")
        if not answer.refused:
            return answer.wait or 0
        if len(rows) > 1 and answer.status not in _KEY_REFUSED:
            half = len(rows) // 2
            for part in (rows[:half], rows[half:]):
                wait = await self._deliver(key, part, taken)
                if wait is not None:
                    return wait
            return None
        await self._store.run(lambda db: dead_letter(db, rows, answer.status, answer.text))
        return None

    async def _forget(self, taken: set[int], ids: set[int]) -> None:
        """Delete rows the destination took; until that commits, they stay in ``taken``."""
        await self._store.run(lambda db: delete_rows(db, ids))
        taken -= ids

    async def _post(self, key: str | None, rows: list[Row]) -> Answered | None:
        """The destination's answer to one batch; None when none came."""
        write_key = key if key is not None else self._destination.write_key
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=POST_TIMEOUT), trust_env=False)
        try:
            async with self._session.post(
                    self._destination.batch_url, data=batch_body(rows).encode("utf-8"),
                    allow_redirects=False,
                    headers={"Content-Type": "application/json",
                             "Authorization": basic_auth(write_key)}) as response:
                raw = await response.content.read(MAX_RESPONSE_BYTES)
                text = raw.decode("utf-8", errors="replace")[:MAX_RESPONSE_CHARS]
                return Answered(response.status, text,
                                retry_after(response.headers.get("retry-after", "")))
        except (aiohttp.ClientError, TimeoutError):
            return None

    def _failed(self, reason: str) -> None:
        self._observer.delivery_failed(reason)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
