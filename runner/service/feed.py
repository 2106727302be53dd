"""The change feed: how a change to a source on one node reaches every node.

Every change to a source row (connect, configure, deploy, shadow, pause, delete) notes the
source in ``source_changes``, in the same transaction; on PostgreSQL it also sends a
``NOTIFY``, which reaches every node listening when the transaction commits. Each node
reads the feed when notified, and every ``POLL`` seconds whatever happens (the listening
connection may be down), and loads again each source noted since, or forgets it if it is
gone. Tokens need no feed: each request's token is looked up in the database, so a revoked
one is refused at once.

A node reads the last ``WINDOW`` seconds each time rather than "after the last id seen":
ids are taken when a transaction starts but seen when it commits, so a later id can be
seen before an earlier one. Loading a source again is harmless, so overlap costs nothing;
the window also absorbs clocks a few seconds apart. Notes older than ``KEEP`` are deleted
(every ``TRIM_EVERY`` seconds, by each node).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

import psycopg
import sqlalchemy as sa

from runner.db import schema
from runner.store import Db

log = logging.getLogger("segfn.runner")

POLL = 1.0
WINDOW = 10.0
KEEP = 3600.0
TRIM_EVERY = 60.0

_CHANGES = schema.source_changes
CHANNEL = "segfn_source_changes"


def note(db: Db, source_ids: Iterable[str]) -> None:
    """Record that these sources changed (in the transaction that changes them)."""
    now = time.time()
    rows = [{"at": now, "source": source_id} for source_id in source_ids]
    if rows:
        db.execute(_CHANGES.insert(), rows)
        if db.dialect.name == "postgresql":
            db.execute(sa.select(sa.func.pg_notify(CHANNEL, "")))


def recent(db: Db, now: float) -> list[tuple[int, str]]:
    """The notes of the last ``WINDOW`` seconds before ``now``: (id, source id)."""
    found = db.execute(sa.select(_CHANGES.c.id, _CHANGES.c.source)
                       .where(_CHANGES.c.at > now - WINDOW).order_by(_CHANGES.c.id))
    return [(row.id, row.source) for row in found]


def trim(db: Db, now: float) -> None:
    db.execute(_CHANGES.delete().where(_CHANGES.c.at < now - KEEP))


def listen(engine: sa.Engine, notified: Callable[[], None], stop: threading.Event) -> None:
    """Call ``notified`` whenever a change is noted on ``engine``'s PostgreSQL database,
    until ``stop`` is set; a connection lost is made again a second later. For a thread."""
    while not stop.is_set():
        try:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as db:
                db.execute(sa.text(f"LISTEN {CHANNEL}"))
                driver = db.connection.driver_connection
                assert isinstance(driver, psycopg.Connection)
                while not stop.is_set():
                    # A timeout, so that the thread sees ``stop`` within a second.
                    for _ in driver.notifies(timeout=1.0, stop_after=1):
                        notified()
        except (sa.exc.DBAPIError, psycopg.Error):
            log.warning("lost the connection listening for source changes; polling until "
                        "it is back")
            stop.wait(1.0)
