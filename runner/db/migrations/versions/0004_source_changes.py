"""Revision 0004: the change feed (runner/service/feed.py): which sources changed when."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from runner.db.types import RowId, Seconds

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "source_changes",
        sa.Column("id", RowId, primary_key=True, autoincrement=True),
        sa.Column("at", Seconds, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sqlite_autoincrement=True)
    op.create_index("source_changes_at", "source_changes", ["at"])
