"""Revision 0001: the schema as segfn had it when migrations began, every table of the
runner and of the service catalog.

A database made by an earlier segfn has no alembic_version and some of these tables,
maybe in an older shape (an outbox without write keys, errors without replay, sources
without allow_get, capture_days or dedup_header): each gains the columns and indexes it
lacks, its rows keeping their values and a new column taking its default, and the tables
it lacks are made. The tables are frozen here as they were at this revision; later
revisions change them, and runner/db/schema.py says what they are now.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from runner.db.types import RowId, Seconds

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

tables = sa.MetaData()


def _row_id() -> sa.Column[int]:
    return sa.Column("id", RowId, primary_key=True, autoincrement=True)


def _whose() -> tuple[sa.Column[str], sa.Column[str]]:
    """The source and workspace a row is of ('' in rows from before they were kept)."""
    return (sa.Column("source", sa.Text, nullable=False, server_default=""),
            sa.Column("workspace", sa.Text, nullable=False, server_default=""))


# The runner's state: events, outbox, retries, errors, dead letters, captured deliveries,
# and the answers given to deliveries their providers named (runner.dedup).

sa.Table(
    "outbox", tables, _row_id(),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("created_at", Seconds, nullable=False),
    # NULL: the destination's own write key.
    sa.Column("write_key", sa.Text),
    *_whose(),
    sa.Index("outbox_write_key", "write_key"),
    sqlite_autoincrement=True)

sa.Table(
    "events", tables, _row_id(),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("invocation_id", sa.Text, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("received_at", Seconds, nullable=False),
    sqlite_autoincrement=True)

sa.Table(
    "objects", tables,
    sa.Column("source", sa.Text, primary_key=True),
    sa.Column("collection", sa.Text, primary_key=True),
    sa.Column("object_id", sa.Text, primary_key=True),
    sa.Column("properties", sa.Text, nullable=False),
    sa.Column("updated_at", Seconds, nullable=False))

sa.Table(
    "retries", tables,
    sa.Column("invocation_id", sa.Text, primary_key=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("request", sa.Text, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("first_wait", Seconds, nullable=False),
    sa.Column("due_at", Seconds, nullable=False),
    sa.Column("last_error", sa.Text, nullable=False),
    sa.Column("created_at", Seconds, nullable=False),
    sa.Index("retries_due", "due_at"))

sa.Table(
    "errors", tables, _row_id(),
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

sa.Table(
    "dead_letters", tables, _row_id(),
    sa.Column("at", Seconds, nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("response", sa.Text, nullable=False),
    sa.Column("batch", sa.Text, nullable=False),
    *_whose(),
    sa.Index("dead_letters_source", "source"),
    sqlite_autoincrement=True)

# Deliveries kept for replay (runner/captures.py).
sa.Table(
    "captures", tables, _row_id(),
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
sa.Table(
    "capture_totals", tables,
    sa.Column("source", sa.Text, primary_key=True),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("bytes", sa.BigInteger, nullable=False))

sa.Table(
    "answers", tables,
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

sa.Table(
    "workspaces", tables,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False, unique=True),
    sa.Column("created_at", Seconds, nullable=False))

sa.Table(
    "tokens", tables,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("workspace", sa.Text, sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("secret_hash", sa.Text, nullable=False, unique=True),
    sa.Column("roles", sa.Text, nullable=False),
    sa.Column("created_at", Seconds, nullable=False),
    sa.Column("last_used_at", Seconds),
    sa.Column("revoked_at", Seconds))

sa.Table(
    "functions", tables,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("workspace", sa.Text, sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("latest_version", sa.Integer, nullable=False),
    sa.Column("created_at", Seconds, nullable=False),
    sa.Column("updated_at", Seconds, nullable=False),
    sa.UniqueConstraint("workspace", "name"))

sa.Table(
    "versions", tables,
    sa.Column("function", sa.Text, sa.ForeignKey("functions.id"), primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True),
    sa.Column("code", sa.Text, nullable=False),
    sa.Column("settings_schema", sa.Text, nullable=False),
    sa.Column("created_at", Seconds, nullable=False),
    sa.Column("created_by", sa.Text, nullable=False))

sa.Table(
    "sources", tables,
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
    sa.UniqueConstraint("workspace", "name"))


def upgrade() -> None:
    bind = op.get_bind()
    present = set(sa.inspect(bind).get_table_names())
    for table in tables.sorted_tables:
        if table.name in present:
            _complete(bind, table)
        else:
            table.create(bind)


def _complete(bind: sa.Connection, table: sa.Table) -> None:
    """Add what an earlier segfn's ``table`` lacks."""
    inspector = sa.inspect(bind)
    have = {c["name"] for c in inspector.get_columns(table.name)}
    for column in table.columns:
        if column.name not in have:
            op.add_column(table.name, column._copy())
    indexes = {i["name"] for i in inspector.get_indexes(table.name)}
    for index in table.indexes:
        if index.name not in indexes:
            index.create(bind)
