"""The few statements that run for every delivery, run on the driver's own connection.

Each is defined in SQLAlchemy Core and compiled by SQLAlchemy, once per dialect, to SQL
with named parameters that both drivers take as they are (sqlite3 ``:name``, psycopg
``%(name)s``). Running it then skips SQLAlchemy's execution machinery, which costs more
than the statement itself costs SQLite (some 10 us against 2; see
benchmarks/throughput.py). Only writes of text and numbers belong here: their values need
no conversion, and they return nothing. A driver's error comes wrapped as SQLAlchemy would
wrap it (``sqlalchemy.exc.OperationalError`` for a full disk or a lost server).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import pysqlite
from sqlalchemy.sql.expression import ClauseElement

# sqlite3 takes :name parameters too; SQLAlchemy's SQLite dialect writes ? by default.
_NAMED_SQLITE = pysqlite.dialect(paramstyle="named")


@functools.cache
def _sql(statement: ClauseElement, dialect: sa.Dialect) -> str:
    compiled_for = _NAMED_SQLITE if dialect.name == "sqlite" else dialect
    return str(statement.compile(dialect=compiled_for))


def write(db: sa.Connection, statement: ClauseElement,
          rows: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> None:
    """Run ``statement`` (a module-level one: each is compiled once) with ``rows``, one
    mapping of parameters or a list of them."""
    sql = _sql(statement, db.dialect)
    driver = db.connection.driver_connection
    assert driver is not None
    cursor = driver.cursor()
    try:
        if isinstance(rows, Mapping):
            cursor.execute(sql, rows)
        else:
            cursor.executemany(sql, rows)
    except db.dialect.loaded_dbapi.Error as exc:
        raise sa.exc.DBAPIError.instance(sql, rows, exc, db.dialect.loaded_dbapi.Error
                                         ) from exc
    finally:
        cursor.close()
