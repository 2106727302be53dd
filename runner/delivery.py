"""Sending outbox messages to a Segment-compatible Tracking API (``POST /v1/batch``).

Messages leave the outbox only when the API has taken them (2xx) or has refused them
for good (a 4xx other than 429), in which case the batch and the answer are kept in the
dead-letter table for the user to see. Anything else (429, 5xx, no connection) is tried
again, backing off from 1 s, doubling up to 5 minutes, with jitter, or as ``Retry-After``
says.

Each source may have its own write key, so a batch holds the messages of one write key
only: the oldest row's, with the rows after it under the same key (NULL: the destination's).
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import sqlite3
import time
from datetime import UTC, datetime
from typing import Any

import aiohttp
import attrs

from runner.observer import Observer
from runner.store import Store
from segfn.identities import utc_iso

MAX_BATCH_BYTES = 500_000
MAX_BATCH_MESSAGES = 2500
FLUSH_AFTER = 0.2
FIRST_BACKOFF = 1.0
MAX_BACKOFF = 300.0
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
class Batch:
    """Outbox rows to send together: (id, message JSON), oldest first, and their key."""

    write_key: str | None
    rows: list[tuple[int, str]]

    @property
    def ids(self) -> list[int]:
        return [row_id for row_id, _ in self.rows]


def take_batch(db: sqlite3.Connection) -> Batch | None:
    """The oldest row's write key and its oldest rows that fit one batch; None if empty."""
    oldest = db.execute("SELECT write_key FROM outbox ORDER BY id LIMIT 1").fetchone()
    if oldest is None:
        return None
    key = oldest["write_key"]
    # IS, not =: it matches NULL to NULL.
    rows = db.execute("SELECT id, message FROM outbox WHERE write_key IS ? ORDER BY id "
                      "LIMIT ?", (key, MAX_BATCH_MESSAGES)).fetchall()
    batch: list[tuple[int, str]] = []
    size = _ENVELOPE_BYTES
    for row in rows:
        size += len(row["message"].encode("utf-8")) + 1
        if batch and size > MAX_BATCH_BYTES:
            break
        batch.append((row["id"], row["message"]))
    return Batch(key, batch)


def basic_auth(write_key: str) -> str:
    """The Authorization header Segment expects: the write key as user, no password."""
    # Built here: aiohttp.BasicAuth is deprecated, and its replacement is not in 3.9.
    return "Basic " + base64.b64encode(f"{write_key}:".encode()).decode("ascii")


def delete_rows(db: sqlite3.Connection, ids: list[int]) -> None:
    db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])


def dead_letter(db: sqlite3.Connection, ids: list[int], body: str, status: int,
                response: str) -> None:
    db.execute("INSERT INTO dead_letters (at, status, response, batch) VALUES (?, ?, ?, ?)",
               (time.time(), status, response, body))
    delete_rows(db, ids)


def read_dead_letters(db: sqlite3.Connection) -> list[dict[str, Any]]:
    rows = db.execute("SELECT * FROM dead_letters ORDER BY id").fetchall()
    return [{"at": r["at"], "status": r["status"], "response": r["response"],
             "batch": json.loads(r["batch"])} for r in rows]


def _retry_after(response: aiohttp.ClientResponse) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class Deliverer:
    """The loop that empties the outbox into the destination.

    ``observer`` hears of every send that did not take the batch.
    """

    def __init__(self, store: Store, destination: Destination,
                 observer: Observer | None = None) -> None:
        self._store = store
        self._destination = destination
        self._observer = observer or Observer()
        self._session: aiohttp.ClientSession | None = None
        self._wake = asyncio.Event()

    def notify(self) -> None:
        """Messages were added; deliver within ``FLUSH_AFTER`` seconds."""
        self._wake.set()

    async def run(self) -> None:
        backoff = FIRST_BACKOFF
        while True:
            self._wake.clear()
            batch = await self._store.run(take_batch)
            if batch is None:
                await self._idle()
                continue
            wait = await self._send(batch)
            if wait is None:
                backoff = FIRST_BACKOFF
                continue
            if wait > 0:
                await asyncio.sleep(wait)
            else:
                await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
                backoff = min(backoff * 2, MAX_BACKOFF)

    async def _idle(self) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=1.0)
        except TimeoutError:
            return
        # Let the rest of a burst arrive, so it leaves as one batch.
        await asyncio.sleep(FLUSH_AFTER)

    async def _send(self, batch: Batch) -> float | None:
        """Send one batch; None when it left the outbox, else seconds to wait (0: backoff)."""
        ids = batch.ids
        sent_at = utc_iso(datetime.now(UTC))
        body = '{"batch":[' + ",".join(m for _, m in batch.rows) + f'],"sentAt":"{sent_at}"}}'
        key = batch.write_key if batch.write_key is not None else self._destination.write_key
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=30), trust_env=False)
        try:
            async with self._session.post(
                    self._destination.batch_url, data=body.encode("utf-8"),
                    headers={"Content-Type": "application/json",
                             "Authorization": basic_auth(key)}) as response:
                status, text = response.status, (await response.text())[:10_000]
                wait = _retry_after(response)
        except (aiohttp.ClientError, TimeoutError):
            self._failed("network")
            return 0
        if 200 <= status < 300:
            await self._store.run(lambda db: delete_rows(db, ids))
            return None
        self._failed(f"status {status}")
        if status == 429 or status >= 500:
            return wait or 0
        await self._store.run(lambda db: dead_letter(db, ids, body, status, text))
        return None

    def _failed(self, reason: str) -> None:
        self._observer.delivery_failed(reason)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
