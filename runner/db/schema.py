"""Every table segfn keeps, runner's and service catalog's, for SQLite and PostgreSQL.

One definition: the migrations (migrations/versions) bring a database to this shape, and
a test compares a migrated database with it. Times are Unix seconds (floats); JSON is kept
as text. Ids that grow with every row are 64-bit on PostgreSQL and SQLite's rowid there.
"""

from __future__ import annotations

import sqlalchemy as sa

from runner.db.types import RowId, Seconds

metadata = sa.MetaData()


def _row_id() -> sa.Column[int]:
    return sa.Column("id", RowId, primary_key=True, autoincrement=True)


def _whose() -> tuple[sa.Column[str], sa.Column[str]]:
    """The source and workspace a row is of ('' in rows from before they were kept)."""
    return (sa.Column("source", sa.Text, nullable=False, server_default=""),
            sa.Column("workspace", sa.Text, nullable=False, server_default=""))


def _leased() -> tuple[sa.Column[str], sa.Column[float]]:
    """The node that holds a row and until when (runner.leases); NULL: none."""
    return sa.Column("leased_by", sa.Text), sa.Column("lease_until", Seconds)


# The runner's state: events, outbox, retries, errors, dead letters, captured deliveries,
# and the answers given to deliveries their providers named (runner.dedup).

outbox = sa.Table(
    "outbox", metadata, _row_id(),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("created_at", Seconds, nullable=False),
    # NULL: the destination's own write key.
    sa.Column("write_key", sa.Text),
    *_whose(),
    *_leased(),
    sa.Index("outbox_write_key", "write_key"),
    sqlite_autoincrement=True)

events = sa.Table(
    "events", metadata, _row_id(),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("invocation_id", sa.Text, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("received_at", Seconds, nullable=False),
    sqlite_autoincrement=True)

objects = sa.Table(
    "objects", metadata,
    sa.Column("source", sa.Text, primary_key=True),
    sa.Column("collection", sa.Text, primary_key=True),
    sa.Column("object_id", sa.Text, primary_key=True),
    sa.Column("properties", sa.Text, nullable=False),
    sa.Column("updated_at", Seconds, nullable=False))

retries = sa.Table(
    "retries", metadata,
    sa.Column("invocation_id", sa.Text, primary_key=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("request", sa.Text, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("first_wait", Seconds, nullable=False),
    sa.Column("due_at", Seconds, nullable=False),
    sa.Column("last_error", sa.Text, nullable=False),
    sa.Column("created_at", Seconds, nullable=False),
    *_leased(),
    sa.Index("retries_due", "due_at"))

errors = sa.Table(
    "errors", metadata, _row_id(),
    sa.Column("at", Seconds, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("function", sa.Text, nullable=False),
    sa.Column("invocation_id", sa.Text, nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("request", sa.Text, nullable=False),
    sa.Column("logs", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    # What it takes to run it again (runner.errorlog); NULL: not kept.
    sa.Column("replay", sa.Text),
    sa.Index("errors_function", "function", "at"),
    sqlite_autoincrement=True)

dead_letters = sa.Table(
    "dead_letters", metadata, _row_id(),
    sa.Column("at", Seconds, nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("response", sa.Text, nullable=False),
    sa.Column("batch", sa.Text, nullable=False),
    *_whose(),
    sa.Index("dead_letters_source", "source"),
    sqlite_autoincrement=True)

# Deliveries kept for replay (runner/captures.py).
captures = sa.Table(
    "captures", metadata, _row_id(),
    sa.Column("at", Seconds, nullable=False),
    sa.Column("expires_at", Seconds, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("invocation_id", sa.Text, nullable=False),
    sa.Column("request", sa.Text, nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("emitted", sa.Text, nullable=False),
    sa.Column("error", sa.Text),
    sa.Index("captures_source", "source", "id"),
    sa.Index("captures_expiry", "expires_at"),
    sqlite_autoincrement=True)

# Each source's number and bytes of captures, which bound them.
capture_totals = sa.Table(
    "capture_totals", metadata,
    sa.Column("source", sa.Text, primary_key=True),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("bytes", sa.BigInteger, nullable=False))

# Shadow deploys (runner/shadow.py): how each source's shadowed deliveries compared, by the
# version that shadowed them, and the newest diffs.
shadow_totals = sa.Table(
    "shadow_totals", metadata,
    sa.Column("source", sa.Text, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("since", Seconds, nullable=False),
    *(sa.Column(outcome, sa.Integer, nullable=False, server_default="0")
      for outcome in ("same", "changed", "failed", "skipped")))

shadow_diffs = sa.Table(
    "shadow_diffs", metadata, _row_id(),
    sa.Column("at", Seconds, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("delivery", sa.Text, nullable=False),
    sa.Column("before", sa.Text, nullable=False),
    sa.Column("after", sa.Text, nullable=False),
    sa.Column("error", sa.Text),
    sa.Index("shadow_diffs_source", "source", "id"),
    sqlite_autoincrement=True)

answers = sa.Table(
    "answers", metadata,
    sa.Column("invocation_id", sa.Text, primary_key=True),
    sa.Column("at", Seconds, nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("reply", sa.Text),
    # Grows with each answer kept, so the newest MAX_ANSWERS are found through an index
    # (SQLite's rowid did this once; PostgreSQL has none). 0 in files from before.
    sa.Column("seq", sa.BigInteger, nullable=False, server_default="0"),
    sa.Index("answers_at", "at"),
    sa.Index("answers_seq", "seq"))

# The service's catalog: workspaces, tokens, functions, versions and sources.

workspaces = sa.Table(
    "workspaces", metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False, unique=True),
    sa.Column("created_at", Seconds, nullable=False))

tokens = sa.Table(
    "tokens", metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("workspace", sa.Text, sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("secret_hash", sa.Text, nullable=False, unique=True),
    sa.Column("roles", sa.Text, nullable=False),
    sa.Column("created_at", Seconds, nullable=False),
    sa.Column("last_used_at", Seconds),
    sa.Column("revoked_at", Seconds))

functions = sa.Table(
    "functions", metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("workspace", sa.Text, sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("latest_version", sa.Integer, nullable=False),
    sa.Column("created_at", Seconds, nullable=False),
    sa.Column("updated_at", Seconds, nullable=False),
    sa.UniqueConstraint("workspace", "name"))

versions = sa.Table(
    "versions", metadata,
    sa.Column("function", sa.Text, sa.ForeignKey("functions.id"), primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True),
    sa.Column("code", sa.Text, nullable=False),
    sa.Column("settings_schema", sa.Text, nullable=False),
    sa.Column("created_at", Seconds, nullable=False),
    sa.Column("created_by", sa.Text, nullable=False))

sources = sa.Table(
    "sources", metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("workspace", sa.Text, sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("function", sa.Text, sa.ForeignKey("functions.id"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("webhook_token", sa.Text, nullable=False, unique=True),
    sa.Column("settings", sa.Text, nullable=False),
    sa.Column("secrets", sa.Text, nullable=False),
    sa.Column("write_key", sa.Text),
    sa.Column("paused", sa.Integer, nullable=False),
    sa.Column("created_at", Seconds, nullable=False),
    sa.Column("updated_at", Seconds, nullable=False),
    sa.Column("allow_get", sa.Integer, nullable=False, server_default="0"),
    sa.Column("capture_days", sa.Integer, nullable=False, server_default="0"),
    sa.Column("dedup_header", sa.Text),
    # The version live traffic also runs, its output compared and discarded (runner/shadow.py).
    sa.Column("shadow_version", sa.Integer),
    sa.UniqueConstraint("workspace", "name"))

# Which sources changed when, for the other nodes to load them again (runner/service/feed.py).
source_changes = sa.Table(
    "source_changes", metadata, _row_id(),
    sa.Column("at", Seconds, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Index("source_changes_at", "at"),
    sqlite_autoincrement=True)
