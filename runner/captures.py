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

import json
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from runner.errorlog import Sealer
from segfn.sandbox.invocation import HttpRequest, Result

KEEP_PER_SOURCE = 10_000
KEEP_BYTES_PER_SOURCE = 50 * 1024 * 1024
MAX_DAYS = 90
# The service's API lists the newest this many of a source's captures.
LISTED = 1000
DAY = 24 * 3600



def capture(db: sqlite3.Connection, *, source: str, invocation_id: str,
            request: HttpRequest, result: Result, days: int, sealer: Sealer,
            now: float | None = None, keep: int = KEEP_PER_SOURCE,
            keep_bytes: int = KEEP_BYTES_PER_SOURCE) -> None:
    """Keep one delivery of ``source`` for ``days``, then drop what is past the bounds."""
    now = time.time() if now is None else now
    sealed = sealer.encrypt(request.to_dict())
    error = None if result.error is None else json.dumps(result.error.to_dict())
    db.execute(
        "INSERT INTO captures (at, expires_at, source, invocation_id, request, size, "
        "emitted, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (now, now + days * DAY, source, invocation_id, sealed, len(sealed),
         json.dumps(list(result.messages) if result.ok else [], ensure_ascii=False), error))
    _count(db, source, 1, len(sealed))
    expire(db, now)
    count, total = db.execute("SELECT count, bytes FROM capture_totals WHERE source = ?",
                              (source,)).fetchone()
    while count > keep or total > keep_bytes:
        oldest = db.execute("SELECT id, size FROM captures WHERE source = ? ORDER BY id "
                            "LIMIT 1", (source,)).fetchone()
        db.execute("DELETE FROM captures WHERE id = ?", (oldest["id"],))
        _count(db, source, -1, -oldest["size"])
        count, total = count - 1, total - oldest["size"]


def _count(db: sqlite3.Connection, source: str, count: int, size: int) -> None:
    # Kept beside the table, so that a capture does not sum the source's 10,000 rows.
    db.execute("INSERT INTO capture_totals VALUES (?, ?, ?) ON CONFLICT (source) DO UPDATE "
               "SET count = count + excluded.count, bytes = bytes + excluded.bytes",
               (source, count, size))


def rotate(db: sqlite3.Connection, rotate: Callable[[str], str]) -> tuple[int, int]:
    """Seal every captured request again with ``rotate`` (a key rotation's); the number
    done, and the number no key given opens, which are left as they are."""
    done = failed = 0
    for row in db.execute("SELECT id, request FROM captures").fetchall():
        try:
            sealed = rotate(row["request"])
        except Exception:  # noqa: BLE001 - a token of a key no longer given: say how many
            failed += 1
            continue
        db.execute("UPDATE captures SET request = ?, size = ? WHERE id = ?",
                   (sealed, len(sealed), row["id"]))
        done += 1
    db.execute("DELETE FROM capture_totals")
    db.execute("INSERT INTO capture_totals SELECT source, count(*), sum(size) FROM captures "
               "GROUP BY source")
    return done, failed


def _opened(sealed: str, sealer: Sealer) -> Any:
    try:
        return sealer.decrypt(sealed)
    except Exception:  # noqa: BLE001 - a key no longer given: shown as not readable
        return None


def forget(db: sqlite3.Connection, source: str) -> None:
    """Delete every capture of a deleted source."""
    db.execute("DELETE FROM captures WHERE source = ?", (source,))
    db.execute("DELETE FROM capture_totals WHERE source = ?", (source,))


def expire(db: sqlite3.Connection, now: float | None = None) -> None:
    """Delete every capture past its time."""
    now = time.time() if now is None else now
    # Rows, not GROUP BY: that would read the whole table in source order.
    for gone in db.execute("SELECT source, size FROM captures WHERE expires_at < ?",
                           (now,)).fetchall():
        _count(db, gone[0], -1, -gone[1])
    db.execute("DELETE FROM captures WHERE expires_at < ?", (now,))


def read_captures(db: sqlite3.Connection, sealer: Sealer, source: str | None = None,
                  since: float | None = None, limit: int | None = None
                  ) -> list[dict[str, Any]]:
    """Unexpired captures, oldest first (``since``: taken at or after it; ``limit``: the
    newest ``limit`` of them), each with its request opened by ``sealer`` (None when it
    cannot be: sealed under a key no longer given)."""
    where = "expires_at >= ?"
    args: list[Any] = [time.time()]
    for clause, value in (("source = ?", source), ("at >= ?", since)):
        if value is not None:
            where += f" AND {clause}"
            args.append(value)
    rows = db.execute(f"SELECT * FROM captures WHERE {where} ORDER BY id DESC LIMIT ?",
                      (*args, -1 if limit is None else limit)).fetchall()
    return [_entry(row, sealer) for row in reversed(rows)]


def _entry(row: sqlite3.Row, sealer: Sealer) -> dict[str, Any]:
    return {"id": row["id"], "at": row["at"], "expires_at": row["expires_at"],
            "source": row["source"], "invocation_id": row["invocation_id"],
            "request": _opened(row["request"], sealer),
            "emitted": json.loads(row["emitted"]),
            "error": None if row["error"] is None else json.loads(row["error"])}
