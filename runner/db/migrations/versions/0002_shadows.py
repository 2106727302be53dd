"""Revision 0002: shadow deploys (runner/shadow.py).

Sources gain ``shadow_version`` (NULL: no shadow), and two tables keep how shadowed
deliveries compared: the counts of each source and version, and the newest diffs.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from runner.db.types import RowId, Seconds

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sources", sa.Column("shadow_version", sa.Integer))
    op.create_table(
        "shadow_totals",
        sa.Column("source", sa.Text, primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("since", Seconds, nullable=False),
        *(sa.Column(outcome, sa.Integer, nullable=False, server_default="0")
          for outcome in ("same", "changed", "failed", "skipped")))
    op.create_table(
        "shadow_diffs",
        sa.Column("id", RowId, primary_key=True, autoincrement=True),
        sa.Column("at", Seconds, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("delivery", sa.Text, nullable=False),
        sa.Column("before", sa.Text, nullable=False),
        sa.Column("after", sa.Text, nullable=False),
        sa.Column("error", sa.Text),
        sqlite_autoincrement=True)
    op.create_index("shadow_diffs_source", "shadow_diffs", ["source", "id"])

