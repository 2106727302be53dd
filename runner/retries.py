"""Invocations answered 202 (Retry, Timeout), stored with their request and run again.

The policy (SPEC 8): up to 6 more runs; the first wait is uniform in [60 s, 180 s], each
later one doubles, capped at 1200 s. ``scale`` multiplies every wait, so tests can run the
real policy quickly.
"""

from __future__ import annotations

import json
import random
import sqlite3
import time

import attrs

from segfn.sandbox.invocation import HttpRequest

MAX_RETRIES = 6
FIRST_WAIT = (60.0, 180.0)
MAX_WAIT = 1200.0


@attrs.frozen
class RetryPolicy:
    scale: float = attrs.field(default=1.0, validator=attrs.validators.ge(0))
    max_retries: int = MAX_RETRIES

    def first_wait(self, rng: random.Random | None = None) -> float:
        return (rng or random).uniform(*FIRST_WAIT)

    def wait(self, first: float, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        return min(first * 2 ** (retry - 1), MAX_WAIT) * self.scale


@attrs.frozen
class PendingRetry:
    invocation_id: str
    source: str
    request: HttpRequest
    attempt: int
    first_wait: float


def schedule(db: sqlite3.Connection, policy: RetryPolicy, *, invocation_id: str, source: str,
             request: HttpRequest, attempt: int, first_wait: float, error: str) -> float:
    """Store (or move on) a retry; returns when it is due (a Unix time)."""
    due = time.time() + policy.wait(first_wait, attempt)
    db.execute(
        "INSERT INTO retries (invocation_id, source, request, attempt, first_wait, due_at, "
        "last_error, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (invocation_id) DO UPDATE SET attempt = excluded.attempt, "
        "due_at = excluded.due_at, last_error = excluded.last_error",
        (invocation_id, source, json.dumps(request.to_dict()), attempt, first_wait, due,
         error, time.time()))
    return due


def run_now(db: sqlite3.Connection, *, invocation_id: str, source: str, request: HttpRequest,
            attempt: int, first_wait: float, error: str) -> None:
    """Queue an invocation to run again at once (a redrive), as retry number ``attempt``."""
    now = time.time()
    db.execute(
        "INSERT INTO retries (invocation_id, source, request, attempt, first_wait, due_at, "
        "last_error, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (invocation_id) DO UPDATE SET due_at = excluded.due_at",
        (invocation_id, source, json.dumps(request.to_dict()), attempt, first_wait, now,
         error, now))


def remove(db: sqlite3.Connection, invocation_id: str) -> None:
    db.execute("DELETE FROM retries WHERE invocation_id = ?", (invocation_id,))


def due(db: sqlite3.Connection, now: float, limit: int = 64) -> list[PendingRetry]:
    rows = db.execute("SELECT * FROM retries WHERE due_at <= ? ORDER BY due_at LIMIT ?",
                      (now, limit)).fetchall()
    return [PendingRetry(r["invocation_id"], r["source"],
                         HttpRequest.from_dict(json.loads(r["request"])), r["attempt"],
                         r["first_wait"]) for r in rows]


def next_due(db: sqlite3.Connection) -> float | None:
    row = db.execute("SELECT MIN(due_at) AS due FROM retries").fetchone()
    return row["due"] if row else None


