"""Revision 0003: leases on the outbox and the retries (runner/leases.py).

Each row gains the node that holds it and until when, so that nodes sharing a database
never send one outbox row or run one retry at the same time.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# As in 0001: Unix seconds.
Seconds: sa.types.TypeEngine[float] = sa.Double().with_variant(sa.REAL(), "sqlite")


def upgrade() -> None:
    for table in ("outbox", "retries"):
        op.add_column(table, sa.Column("leased_by", sa.Text))
        op.add_column(table, sa.Column("lease_until", Seconds))
