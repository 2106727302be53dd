"""Captured deliveries: each raw request a source received, and what it emitted then.

A source with ``capture_days`` above 0 keeps every delivery whose outcome was final (a
success, or a failure the errors log took; a queued retry is captured when it ends): the
request exactly as received (body bytes, headers, URL), its invocation id, the messages it
emitted and its error. ``segfn replay`` runs them through other code and compares.

The request is kept sealed by the runtime's ``Sealer`` (the service's key encrypts it;
``segfn run`` keeps it in plain JSON in its own data dir). A capture is deleted
``capture_days`` after it was taken, and each source keeps at most ``KEEP_PER_SOURCE``
captures and ``KEEP_BYTES_PER_SOURCE`` bytes of them: past either, the oldest go first.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa

from runner.db import schema, upsert
from runner.errorlog import Sealer
from runner.store import Db
from segfn.sandbox.invocation import HttpRequest, Result

KEEP_PER_SOURCE = 10_000
KEEP_BYTES_PER_SOURCE = 50 * 1024 * 1024
MAX_DAYS = 90
# The service's API lists the newest this many of a source's captures.
LISTED = 1000
DAY = 24 * 3600



_CAPTURES = schema.captures
_TOTALS = schema.capture_totals


def capture(db: Db, *, source: str, invocation_id: str,
            request: HttpRequest, result: Result, days: int, sealer: Sealer,
            now: float | None = None, keep: int = KEEP_PER_SOURCE,
            keep_bytes: int = KEEP_BYTES_PER_SOURCE) -> None:
    """Keep one delivery of ``source`` for ``days``, then drop what is past the bounds."""
    now = time.time() if now is None else now
    sealed = sealer.encrypt(request.to_dict())
    error = None if result.error is None else json.dumps(result.error.to_dict())
    db.execute(_CAPTURES.insert().values(
        at=now, expires_at=now + days * DAY, source=source, invocation_id=invocation_id,
        request=sealed, size=len(sealed),
        emitted=json.dumps(list(result.messages) if result.ok else [], ensure_ascii=False),
        error=error))
    _count(db, source, 1, len(sealed))
    expire(db, now)
    count, total = db.execute(sa.select(_TOTALS.c["count"], _TOTALS.c["bytes"])
                              .where(_TOTALS.c.source == source)).one()
    while count > keep or total > keep_bytes:
        oldest = db.execute(sa.select(_CAPTURES.c.id, _CAPTURES.c.size)
                            .where(_CAPTURES.c.source == source)
                            .order_by(_CAPTURES.c.id).limit(1)).one()
        db.execute(_CAPTURES.delete().where(_CAPTURES.c.id == oldest.id))
        _count(db, source, -1, -oldest.size)
        count, total = count - 1, total - oldest.size


def _count(db: Db, source: str, count: int, size: int) -> None:
    # Kept beside the table, so that a capture does not sum the source's 10,000 rows.
    db.execute(_counting(db.dialect.name), {"source": source, "count": count, "bytes": size})


@functools.cache
def _counting(dialect: str) -> Any:
    """The INSERT that adds to a source's totals (built once per dialect)."""
    statement = upsert.dialect_insert(dialect)(_TOTALS)
    return statement.on_conflict_do_update(
        index_elements=["source"],
        set_={"count": _TOTALS.c["count"] + statement.excluded["count"],
              "bytes": _TOTALS.c["bytes"] + statement.excluded["bytes"]})


def rotate(db: Db, rotate: Callable[[str], str]) -> tuple[int, int]:
    """Seal every captured request again with ``rotate`` (a key rotation's); the number
    done, and the number no key given opens, which are left as they are."""
    done = failed = 0
    for row in db.execute(sa.select(_CAPTURES.c.id, _CAPTURES.c.request)).all():
        try:
            sealed = rotate(row.request)
        except Exception:  # noqa: BLE001 - a token of a key no longer given: say how many
            failed += 1
            continue
        db.execute(_CAPTURES.update().where(_CAPTURES.c.id == row.id)
                   .values(request=sealed, size=len(sealed)))
        done += 1
    db.execute(_TOTALS.delete())
    db.execute(_TOTALS.insert().from_select(
        ["source", "count", "bytes"],
        sa.select(_CAPTURES.c.source, sa.func.count(), sa.func.sum(_CAPTURES.c.size))
        .group_by(_CAPTURES.c.source)))
    return done, failed


def _opened(sealed: str, sealer: Sealer) -> Any:
    try:
        return sealer.decrypt(sealed)
    except Exception:  # noqa: BLE001 - a key no longer given: shown as not readable
        return None


def forget(db: Db, source: str) -> None:
    """Delete every capture of a deleted source."""
    db.execute(_CAPTURES.delete().where(_CAPTURES.c.source == source))
    db.execute(_TOTALS.delete().where(_TOTALS.c.source == source))


def expire(db: Db, now: float | None = None) -> None:
    """Delete every capture past its time."""
    now = time.time() if now is None else now
    past = _CAPTURES.c.expires_at < now
    # Rows, not GROUP BY: that would read the whole table in source order.
    for gone in db.execute(sa.select(_CAPTURES.c.source, _CAPTURES.c.size).where(past)).all():
        _count(db, gone.source, -1, -gone.size)
    db.execute(_CAPTURES.delete().where(past))


def read_captures(db: Db, sealer: Sealer, source: str | None = None,
                  since: float | None = None, limit: int | None = None
                  ) -> list[dict[str, Any]]:
    """Unexpired captures, oldest first (``since``: taken at or after it; ``limit``: the
    newest ``limit`` of them), each with its request opened by ``sealer`` (None when it
    cannot be: sealed under a key no longer given)."""
    query = sa.select(_CAPTURES).where(_CAPTURES.c.expires_at >= time.time())
    if source is not None:
        query = query.where(_CAPTURES.c.source == source)
    if since is not None:
        query = query.where(_CAPTURES.c.at >= since)
    rows = db.execute(query.order_by(_CAPTURES.c.id.desc()).limit(limit)).mappings().all()
    return [_entry(row, sealer) for row in reversed(rows)]


def _entry(row: Mapping[Any, Any], sealer: Sealer) -> dict[str, Any]:
    return {"id": row["id"], "at": row["at"], "expires_at": row["expires_at"],
            "source": row["source"], "invocation_id": row["invocation_id"],
            "request": _opened(row["request"], sealer),
            "emitted": json.loads(row["emitted"]),
            "error": None if row["error"] is None else json.loads(row["error"])}
