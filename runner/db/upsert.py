"""INSERT … ON CONFLICT, which SQLite and PostgreSQL spell alike but SQLAlchemy builds per
dialect: one place that picks the dialect's.

Statements are built once per dialect and kept (``functools.cache``): building one costs
more than running it, and these run for every delivery.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite


def dialect_insert(dialect: str) -> Callable[[sa.Table], Any]:
    """The ``insert`` of SQLAlchemy's ``dialect`` ("sqlite" or "postgresql"), whose
    statements have ``on_conflict_do_update`` and ``excluded``."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def on_conflict(db: sa.Connection, table: sa.Table, keep: tuple[str, ...]) -> Any:
    """INSERT into ``table`` that, when a row with the primary key is there, sets its
    columns ``keep`` from the row inserted; built once per dialect."""
    return _on_conflict(db.dialect.name, table, keep)


@functools.cache
def _on_conflict(dialect: str, table: sa.Table, keep: tuple[str, ...]) -> Any:
    statement = dialect_insert(dialect)(table)
    return statement.on_conflict_do_update(
        index_elements=[c.name for c in table.primary_key.columns],
        set_={column: statement.excluded[column] for column in keep})


def replace(db: sa.Connection, table: sa.Table,
            rows: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows``, each replacing the row with its primary key if there is one."""
    keys = {c.name for c in table.primary_key.columns}
    db.execute(on_conflict(db, table, tuple(c.name for c in table.columns
                                            if c.name not in keys)), rows)
