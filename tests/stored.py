"""Looking into a store's database from a test, as an outside observer.

``connect`` opens a SQLite file with sqlite3 itself, for a test's own SQL; ``look`` runs a
product query (a function of a SQLAlchemy connection) on a file or database URL, outside
any ``Store``; ``change`` runs a product change in a transaction of its own.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from runner.db import engine as engines
from runner.store import Db, Store, open_database, transaction

T = TypeVar("T")


def connect(path: Path | str) -> sqlite3.Connection:
    """The SQLite file at ``path`` in autocommit mode, rows readable by column name."""
    db = sqlite3.connect(str(path), isolation_level=None, timeout=30)
    db.row_factory = sqlite3.Row
    return db


def look(database: Path | str, query: Callable[[Db], T]) -> T:
    engine = open_database(database)
    try:
        with engine.connect() as db:
            return query(db)
    finally:
        engine.dispose()


def change(database: Path | str, change: Callable[[Db], T]) -> T:
    with transaction(database) as db:
        return change(db)


def peek(store: Store, query: Callable[[Db], T]) -> T:
    """``query`` on a connection of its own to ``store``'s database, from any thread (an
    event loop's too: it blocks for the read)."""
    with store.engine.connect().execution_options(**{engines.READING: True}) as db:
        return query(db)
