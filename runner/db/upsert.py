"""INSERT … ON CONFLICT, which SQLite and PostgreSQL spell alike but SQLAlchemy builds per
dialect: one place that picks the dialect's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite


def insert(db: sa.Connection, table: sa.Table) -> Any:
    """An INSERT into ``table`` for ``db``'s dialect, with ``on_conflict_do_update``,
    ``on_conflict_do_nothing`` and ``excluded``."""
    if db.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def replace(db: sa.Connection, table: sa.Table,
            rows: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows``, each replacing the row with its primary key if there is one."""
    keys = [c.name for c in table.primary_key.columns]
    statement = insert(db, table)
    db.execute(statement.on_conflict_do_update(
        index_elements=keys,
        set_={c.name: statement.excluded[c.name] for c in table.columns if c.name not in keys}),
        rows)
