"""Invocations answered 202 (Retry, Timeout), stored with their request and run again.

The policy (SPEC 8): up to 6 more runs; the first wait is uniform in [60 s, 180 s], each
later one doubles, capped at 1200 s. ``scale`` multiplies every wait, so tests can run the
real policy quickly.
"""

from __future__ import annotations

import json
import random
import time

import attrs
import sqlalchemy as sa

from runner.db import hot, schema, upsert
from runner.leases import Lease
from runner.store import Db
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


_RETRIES = schema.retries


# Built once: building a statement costs more than running it.
_REMOVE = _RETRIES.delete().where(_RETRIES.c.invocation_id == sa.bindparam("invocation_id"))


def _queue(db: Db, keep: tuple[str, ...], **row: object) -> None:
    """Insert a retry; one already queued for its invocation takes the columns in ``keep``."""
    db.execute(upsert.on_conflict(db, _RETRIES, keep), row)


def schedule(db: Db, policy: RetryPolicy, *, invocation_id: str, source: str,
             request: HttpRequest, attempt: int, first_wait: float, error: str) -> float:
    """Store (or move on) a retry; returns when it is due (a Unix time)."""
    due = time.time() + policy.wait(first_wait, attempt)
    # Moved on by the node that ran it: its lease ends, for any node to run the next.
    _queue(db, ("attempt", "due_at", "last_error", "leased_by", "lease_until"),
           invocation_id=invocation_id, source=source, request=json.dumps(request.to_dict()),
           attempt=attempt, first_wait=first_wait, due_at=due, last_error=error,
           created_at=time.time(), leased_by=None, lease_until=None)
    return due


def run_now(db: Db, *, invocation_id: str, source: str, request: HttpRequest,
            attempt: int, first_wait: float, error: str) -> None:
    """Queue an invocation to run again at once (a redrive), as retry number ``attempt``."""
    now = time.time()
    _queue(db, ("due_at",), invocation_id=invocation_id, source=source,
           request=json.dumps(request.to_dict()), attempt=attempt, first_wait=first_wait,
           due_at=now, last_error=error, created_at=now)


def remove(db: Db, invocation_id: str) -> None:
    hot.write(db, _REMOVE, {"invocation_id": invocation_id})


def due(db: Db, now: float, lease: Lease, limit: int = 64) -> list[PendingRetry]:
    """Retries due at ``now`` that no other node holds, leased to this node to run."""
    rows = lease.lock(db, sa.select(_RETRIES)
                      .where(_RETRIES.c.due_at <= now, lease.claimable(_RETRIES, now))
                      .order_by(_RETRIES.c.due_at).limit(limit))
    lease.hold(db, _RETRIES.c.invocation_id, [r.invocation_id for r in rows], now)
    return [PendingRetry(r.invocation_id, r.source,
                         HttpRequest.from_dict(json.loads(r.request)), r.attempt,
                         r.first_wait) for r in rows]


def renew(db: Db, invocation_id: str, lease: Lease) -> None:
    """Hold on to a retry this node claimed and is running still."""
    lease.renew(db, _RETRIES.c.invocation_id, [invocation_id], time.time())


def next_due(db: Db) -> float | None:
    return db.execute(sa.select(sa.func.min(_RETRIES.c.due_at))).scalar()
