"""Redrive: failed work run again, or sent again, when its owner asks.

``retry_errors`` moves entries of the errors log into the retry queue, due at once: the
runner's retry loop runs each with the code and settings deployed then, as one attempt
more of the same invocation (same invocation id, so the same messageIds for the same
output). A success leaves no trace in the errors log; a failure is logged again, with its
attempts counted on; a Retry or Timeout goes on in the queue while it has retries left.

``resend_dead_letters`` puts dead letters back into the outbox, under the write key their
source has now, and removes them; the destination refusing one again makes it a dead
letter again.

Both take at most ``AT_ONCE`` entries a call and answer what they did with each one asked
for, so that nothing asked for is passed over in silence.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from runner import errorlog, events, retries
from runner.db import schema
from runner.store import Db

AT_ONCE = 1000
# The first wait a retried invocation backs off from if it asks to be retried again.
_FIRST_WAIT = retries.FIRST_WAIT[0]


def _selected(db: Db, table: sa.Table, ids: Sequence[int] | None, source: str | None
              ) -> tuple[list[sa.RowMapping], list[dict[str, Any]]]:
    """The rows asked for (``ids``, or all when None) of ``source`` (any when None), and
    a refusal for each id asked for that is not there."""
    query = sa.select(table)
    if source is not None:
        query = query.where(table.c.source == source)
    if ids is not None:
        query = query.where(table.c.id.in_(list(ids)))
    rows = db.execute(query.order_by(table.c.id).limit(AT_ONCE)).mappings().all()
    found = {row["id"] for row in rows}
    whose = "" if source is None else " of this source"
    missing = [{"id": i, "reason": f"no such entry{whose}"}
               for i in dict.fromkeys(ids or ()) if i not in found]
    return list(rows), missing


def _left(db: Db, table: sa.Table, ids: Sequence[int] | None, source: str | None) -> int:
    """How many rows of ``source`` are left when all were asked for (beyond ``AT_ONCE``)."""
    if ids is not None:
        return 0
    query = sa.select(sa.func.count()).select_from(table)
    if source is not None:
        query = query.where(table.c.source == source)
    return int(db.execute(query).scalar_one())


def retry_errors(db: Db, *, ids: Sequence[int] | None, source: str | None,
                 sealer: errorlog.Sealer | None) -> dict[str, Any]:
    """Queue errors-log entries to run again now: ``{"queued": [{"id", "invocation_id"}],
    "refused": [{"id", "reason"}], "left": n}``."""
    rows, refused = _selected(db, schema.errors, ids, source)
    queued = []
    for row in rows:
        try:
            request = errorlog.replayed(row["replay"], sealer)
        except errorlog.NotReplayable as exc:
            refused.append({"id": row["id"], "reason": f"not retried: {exc}"})
            continue
        retries.run_now(db, invocation_id=row["invocation_id"], source=row["source"],
                        request=request, attempt=row["attempts"], first_wait=_FIRST_WAIT,
                        error=f"{row['type']}: {row['message']}")
        db.execute(schema.errors.delete().where(schema.errors.c.id == row["id"]))
        queued.append({"id": row["id"], "invocation_id": row["invocation_id"]})
    return {"queued": queued, "refused": refused, "left": _left(db, schema.errors, ids, source)}


WriteKeyOf = Callable[[str], "str | None"]


def resend_dead_letters(db: Db, *, ids: Sequence[int] | None,
                        source: str | None, write_key_of: WriteKeyOf) -> dict[str, Any]:
    """Put dead letters back into the outbox: ``{"resent": [{"id", "messages"}],
    "refused": [{"id", "reason"}], "left": n}``. ``write_key_of`` names a source's write
    key now (None: the destination's), or raises LookupError for a source that is gone."""
    rows, refused = _selected(db, schema.dead_letters, ids, source)
    resent = []
    for row in rows:
        try:
            write_key = write_key_of(row["source"])
        except LookupError:
            refused.append({"id": row["id"],
                            "reason": f"not resent: source {row['source']} no longer exists"})
            continue
        messages = json.loads(row["batch"]).get("batch", [])
        events.queue_messages(db, row["source"], messages, write_key, row["workspace"])
        db.execute(schema.dead_letters.delete().where(schema.dead_letters.c.id == row["id"]))
        resent.append({"id": row["id"], "messages": len(messages)})
    return {"resent": resent, "refused": refused,
            "left": _left(db, schema.dead_letters, ids, source)}
