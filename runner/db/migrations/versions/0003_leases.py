"""Revision 0003: leases on the outbox and the retries (runner/leases.py).

Each row gains the node that holds it and until when, so that nodes sharing a database
never send one outbox row or run one retry at the same time.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from runner.db.types import Seconds

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("outbox", "retries"):
        op.add_column(table, sa.Column("leased_by", sa.Text))
        op.add_column(table, sa.Column("lease_until", Seconds))
