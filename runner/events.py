"""What an accepted invocation leaves behind: events, objects and outbox rows."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from runner.db import hot, schema, upsert
from runner.store import Db
from segfn import jsontext
from segfn.sandbox.invocation import Result

# Built once: building a statement costs more than running it, and these run for every
# delivery (the inserts through runner.db.hot).
_QUEUE = schema.outbox.insert().values(
    {name: sa.bindparam(name) for name in
     ("message", "created_at", "write_key", "source", "workspace")})
_STORE = schema.events.insert().values(
    {name: sa.bindparam(name) for name in
     ("source", "invocation_id", "message", "received_at")})
_OBJECT = sa.select(schema.objects.c.properties).where(
    schema.objects.c.source == sa.bindparam("source"),
    schema.objects.c.collection == sa.bindparam("collection"),
    schema.objects.c.object_id == sa.bindparam("object_id"))


def _dump(value: Any) -> str:
    return jsontext.dumps(value).decode()


def queue_messages(db: Db, source: str, messages: Iterable[Any],
                   write_key: str | None, workspace: str) -> None:
    """Put messages in the outbox, for the Tracking API, under ``write_key``."""
    now = time.time()
    # An empty key authenticates nothing: store it as "use the destination's".
    rows = [{"message": _dump(m), "created_at": now, "write_key": write_key or None,
             "source": source, "workspace": workspace} for m in messages]
    if rows:
        hot.write(db, _QUEUE, rows)


def save_result(db: Db, source: str, invocation_id: str, result: Result,
                outbox: bool, write_key: str | None = None, workspace: str = "") -> None:
    """Store a successful invocation's messages and merge its objects.

    With ``outbox``, messages wait there for the Tracking API, to be sent under
    ``write_key`` (the destination's own when None); without, the embedded event store is
    their destination.
    """
    now = time.time()
    if outbox:
        queue_messages(db, source, result.messages, write_key, workspace)
    elif result.messages:
        hot.write(db, _STORE, [
            {"source": source, "invocation_id": invocation_id, "message": _dump(m),
             "received_at": now} for m in result.messages])
    for obj in result.objects:
        merge_object(db, source, obj["collection"], obj["id"], obj["properties"], now)


def merge_object(db: Db, source: str, collection: str, object_id: str,
                 properties: dict[str, Any], now: float) -> None:
    row = db.execute(_OBJECT, {"source": source, "collection": collection,
                               "object_id": object_id}).first()
    merged = {**json.loads(row.properties), **properties} if row else properties
    upsert.replace(db, schema.objects, {"source": source, "collection": collection,
                                 "object_id": object_id, "properties": _dump(merged),
                                 "updated_at": now})


def read_events(db: Db, after: int = 0, limit: int = 100,
                source: str | None = None, newest: bool = False) -> list[dict[str, Any]]:
    """Stored events with an id above ``after``, oldest first (``newest``: the newest
    ``limit`` of them, newest first); of one source if given."""
    events = schema.events
    query = sa.select(events).where(events.c.id > after)
    if source is not None:
        query = query.where(events.c.source == source)
    rows = db.execute(query.order_by(events.c.id.desc() if newest else events.c.id)
                      .limit(limit)).mappings()
    return [{"id": r["id"], "source": r["source"], "invocation_id": r["invocation_id"],
             "received_at": r["received_at"], "message": json.loads(r["message"])}
            for r in rows]


def read_objects(db: Db) -> list[dict[str, Any]]:
    objects = schema.objects
    rows = db.execute(sa.select(objects).order_by(objects.c.collection, objects.c.object_id)
                      ).mappings()
    return [{"source": r["source"], "collection": r["collection"], "id": r["object_id"],
             "properties": json.loads(r["properties"]), "updated_at": r["updated_at"]}
            for r in rows]
