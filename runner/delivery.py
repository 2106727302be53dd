"""Sending outbox messages to a Segment-compatible Tracking API (``POST /v1/batch``).

Messages leave the outbox only when the API has taken them (2xx) or has refused them
for good (a 4xx other than 429), in which case the batch and the answer are kept in the
dead-letter table for the user to see. Anything else (429, 5xx, no connection) is tried
again, backing off from 1 s, doubling up to 5 minutes, with jitter, or as ``Retry-After``
says.
"""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
import time
from datetime import UTC, datetime
from typing import Any

import aiohttp
import attrs

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
    """A Tracking API: its base URL and the write key that authenticates."""

    endpoint: str = attrs.field(converter=lambda url: url.rstrip("/"))
    write_key: str

    @property
    def batch_url(self) -> str:
        return f"{self.endpoint}/v1/batch"


def take_batch(db: sqlite3.Connection) -> list[tuple[int, str]]:
    """The oldest outbox rows that fit one batch: (id, message JSON)."""
    rows = db.execute("SELECT id, message FROM outbox ORDER BY id LIMIT ?",
                      (MAX_BATCH_MESSAGES,)).fetchall()
    batch, size = [], _ENVELOPE_BYTES
    for row in rows:
        size += len(row["message"].encode("utf-8")) + 1
        if batch and size > MAX_BATCH_BYTES:
            break
        batch.append((row["id"], row["message"]))
    return batch


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
    """The loop that empties the outbox into the destination."""

    def __init__(self, store: Store, destination: Destination) -> None:
        self._store = store
        self._destination = destination
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
            if not batch:
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

    async def _send(self, batch: list[tuple[int, str]]) -> float | None:
        """Send one batch; None when it left the outbox, else seconds to wait (0: backoff)."""
        ids = [row_id for row_id, _ in batch]
        sent_at = utc_iso(datetime.now(UTC))
        body = '{"batch":[' + ",".join(m for _, m in batch) + f'],"sentAt":"{sent_at}"}}'
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=30), trust_env=False)
        try:
            async with self._session.post(
                    self._destination.batch_url, data=body.encode("utf-8"),
                    auth=aiohttp.BasicAuth(self._destination.write_key, ""),
                    headers={"Content-Type": "application/json"}) as response:
                status, text = response.status, (await response.text())[:10_000]
                wait = _retry_after(response)
        except (aiohttp.ClientError, TimeoutError):
            return 0
        if 200 <= status < 300:
            await self._store.run(lambda db: delete_rows(db, ids))
            return None
        if status == 429 or status >= 500:
            return wait or 0
        await self._store.run(lambda db: dead_letter(db, ids, body, status, text))
        return None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
