"""Leases: how nodes sharing one database share the outbox and the retries.

A node claims rows before it sends or runs them: in one transaction it selects rows no
other node holds, ``FOR UPDATE SKIP LOCKED`` (so two nodes claiming at once never wait on,
or take, each other's), and marks them ``leased_by`` itself ``lease_until`` a time. Until
then no other node claims them; after it (the node died, or stalled), any node may. The
node holding a lease may claim its rows again, which is how a lane sends a batch again
after backing off. A row's lease ends with the row (sent, dead-lettered, retried) or, for
a retry moved on to its next attempt, when it is scheduled again.

SQLite ignores ``FOR UPDATE``; its database is one node's anyway (the data dir's lock).
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Collection, Sequence
from typing import Any

import attrs
import sqlalchemy as sa

from runner.db import schema
from runner.store import Db

# Long enough for what a node does with a claim (a batch's POST, a retry's invocation, both
# bounded well below it); short enough that a dead node's work moves within 30 s.
LEASE_SECONDS = 25.0


def node_name() -> str:
    """A name for this process, unique among the nodes on one database."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@attrs.frozen
class Lease:
    """Who claims (``node``) and for how long (``seconds``)."""

    node: str = attrs.field(factory=node_name)
    seconds: float = attrs.field(default=LEASE_SECONDS, validator=attrs.validators.gt(0))

    def claimable(self, table: sa.Table, now: float) -> sa.ColumnElement[bool]:
        """Rows of ``table`` no other node holds at ``now``."""
        return sa.or_(table.c.lease_until.is_(None), table.c.lease_until < now,
                      table.c.leased_by == self.node)

    def lock(self, db: Db, query: sa.Select[Any]) -> Sequence[sa.Row[Any]]:
        """The rows ``query`` selects (it filters on ``claimable``) but those another
        node's transaction is claiming now; they stay locked until this one ends."""
        return db.execute(query.with_for_update(skip_locked=True)).all()

    def hold(self, db: Db, key: sa.Column[Any], ids: Collection[Any], now: float) -> None:
        """Lease the rows whose primary ``key`` is in ``ids`` to this node from ``now``."""
        if ids:
            db.execute(sa.update(key.table).where(key.in_(list(ids)))
                       .values(leased_by=self.node, lease_until=now + self.seconds))

    def renew(self, db: Db, key: sa.Column[Any], ids: Collection[Any], now: float) -> None:
        """Extend from ``now`` the leases this node still holds on these rows (none that
        lapsed and went to another node, none that ended)."""
        db.execute(sa.update(key.table).where(key.in_(list(ids)),
                                              key.table.c.leased_by == self.node)
                   .values(lease_until=now + self.seconds))

    def release(self, db: Db) -> None:
        """End every lease this node holds (it is stopping)."""
        for table in (schema.outbox, schema.retries):
            db.execute(sa.update(table).where(table.c.leased_by == self.node)
                       .values(leased_by=None, lease_until=None))
