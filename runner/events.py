"""What an accepted invocation leaves behind: events, objects and outbox rows."""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from segfn.sandbox.invocation import Result


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def save_result(db: sqlite3.Connection, source: str, invocation_id: str, result: Result,
                outbox: bool, write_key: str | None = None, workspace: str = "") -> None:
    """Store a successful invocation's messages and merge its objects.

    With ``outbox``, messages wait there for the Tracking API, to be sent under
    ``write_key`` (the destination's own when None); without, the embedded event store is
    their destination.
    """
    now = time.time()
    if outbox:
        # An empty key authenticates nothing: store it as "use the destination's".
        db.executemany("INSERT INTO outbox (message, created_at, write_key, source, workspace) "
                       "VALUES (?, ?, ?, ?, ?)",
                       [(_dump(m), now, write_key or None, source, workspace)
                        for m in result.messages])
    else:
        db.executemany(
            "INSERT INTO events (source, invocation_id, message, received_at) "
            "VALUES (?, ?, ?, ?)",
            [(source, invocation_id, _dump(m), now) for m in result.messages])
    for obj in result.objects:
        merge_object(db, source, obj["collection"], obj["id"], obj["properties"], now)


def merge_object(db: sqlite3.Connection, source: str, collection: str, object_id: str,
                 properties: dict[str, Any], now: float) -> None:
    row = db.execute("SELECT properties FROM objects WHERE source = ? AND collection = ? "
                     "AND object_id = ?", (source, collection, object_id)).fetchone()
    merged = {**json.loads(row["properties"]), **properties} if row else properties
    db.execute("INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?, ?)",
               (source, collection, object_id, _dump(merged), now))


def read_events(db: sqlite3.Connection, after: int = 0, limit: int = 100,
                source: str | None = None) -> list[dict[str, Any]]:
    """Stored events with an id above ``after``, oldest first; of one source if given."""
    where = "id > ?"
    args: list[Any] = [after]
    if source is not None:
        where += " AND source = ?"
        args.append(source)
    rows = db.execute("SELECT id, source, invocation_id, message, received_at FROM events "
                      f"WHERE {where} ORDER BY id LIMIT ?", (*args, limit)).fetchall()
    return [{"id": r["id"], "source": r["source"], "invocation_id": r["invocation_id"],
             "received_at": r["received_at"], "message": json.loads(r["message"])}
            for r in rows]


def read_objects(db: sqlite3.Connection) -> list[dict[str, Any]]:
    rows = db.execute("SELECT * FROM objects ORDER BY collection, object_id").fetchall()
    return [{"source": r["source"], "collection": r["collection"], "id": r["object_id"],
             "properties": json.loads(r["properties"]), "updated_at": r["updated_at"]}
            for r in rows]
