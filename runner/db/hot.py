"""The few statements that run for every delivery, run on the driver's own connection.

Each is defined in SQLAlchemy Core and compiled by SQLAlchemy, once per dialect, to SQL
with named parameters that both drivers take as they are (sqlite3 ``:name``, psycopg
``%(name)s``). Running it then skips SQLAlchemy's execution machinery, which costs more
than the statement itself costs SQLite (some 10 us against 2; see
benchmarks/throughput.py). Only writes of text and numbers belong here: their values need
no conversion, and they return nothing. A driver's error comes wrapped as SQLAlchemy would
wrap it (``sqlalchemy.exc.OperationalError`` for a full disk or a lost server).

Within ``gathering`` (the store's group transaction), the rows of hot inserts of one
statement in a row wait, and reach the database together: on SQLite as one ``INSERT`` of
many rows, since each statement gives up the GIL and waits to take it back from a busy
event loop. They go before any other statement runs on the connection (the engine's
listener calls ``before_statement``), so that every statement sees the database as if
each write had run at once, and when the block ends.

A SQLite transaction's BEGIN waits too (``begin``), and goes just before its first
statement. When the rows that ``gathering`` writes as it ends are the transaction's only
statement, the BEGIN never goes: the rows go alone, a transaction by themselves, committed
and synced as the statement returns. Each statement gives up the GIL and waits for the
event loop to hand it back; the common group (a burst of deliveries' events) makes one
such wait rather than three.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import pysqlite
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

# sqlite3 takes :name parameters too; SQLAlchemy's SQLite dialect writes ? by default.
_NAMED_SQLITE = pysqlite.dialect(paramstyle="named")
_POSITIONAL_SQLITE = pysqlite.dialect(paramstyle="qmark")
# The parameters one SQLite statement may have in any build (SQLITE_MAX_VARIABLE_NUMBER,
# 999 before 3.32).
_SQLITE_PARAMETERS = 999
# Where a connection's waiting rows and waiting BEGIN are kept (``Connection.info``).
_GATHERED = "segfn.hot.gathered"
_BEGIN = "segfn.hot.begin"


class _Gathered:
    """Rows waiting for one statement."""

    __slots__ = ("statement", "rows")

    def __init__(self) -> None:
        self.statement: ClauseElement | None = None
        self.rows: list[Mapping[str, Any]] = []


@functools.cache
def _sql(statement: ClauseElement, dialect: sa.Dialect) -> str:
    compiled_for = _NAMED_SQLITE if dialect.name == "sqlite" else dialect
    return str(statement.compile(dialect=compiled_for))


@functools.cache
def _many_rows(statement: ClauseElement) -> tuple[str, str, tuple[str, ...]]:
    """``statement`` for SQLite with ``?`` parameters, cut before and after its VALUES:
    the head, one row's placeholders and the names of their parameters in order."""
    compiled = statement.compile(dialect=_POSITIONAL_SQLITE)
    assert isinstance(compiled, SQLCompiler) and compiled.positiontup is not None
    head, _, row = str(compiled).partition(" VALUES ")
    assert row, f"not an INSERT of one row: {compiled}"
    return head + " VALUES ", row, tuple(compiled.positiontup)


def write(db: sa.Connection, statement: ClauseElement,
          rows: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> None:
    """Run ``statement`` (a module-level one: each is compiled once) with ``rows``, one
    mapping of parameters or a list of them; within ``gathering``, when the rows go."""
    gathered: _Gathered | None = db.info.get(_GATHERED)
    if gathered is None or not isinstance(statement, sa.Insert):
        flush(db)
        _execute(db, statement, rows)
        return
    if gathered.statement is not statement:
        flush(db)
        gathered.statement = statement
    if isinstance(rows, Mapping):
        gathered.rows.append(rows)
    else:
        gathered.rows.extend(rows)


@contextlib.contextmanager
def gathering(db: sa.Connection) -> Iterator[None]:
    """Gather hot writes on ``db`` (see the module docstring) for the rest of its
    transaction: the block is the transaction's last work. The rows still waiting go when
    it ends, or are dropped with the transaction when it raises."""
    db.info[_GATHERED] = _Gathered()
    try:
        yield
        flush(db, last=True)
    finally:
        del db.info[_GATHERED]


def begin(db: sa.Connection, sql: str) -> None:
    """Begin ``db``'s transaction with ``sql`` (a SQLite BEGIN), sent before its first
    statement (see the module docstring)."""
    db.info[_BEGIN] = sql


def end(db: sa.Connection) -> None:
    """``db``'s transaction ended: a BEGIN that never went is forgotten."""
    db.info.pop(_BEGIN, None)


def before_statement(db: sa.Connection) -> None:
    """Send what must reach the database before the statement about to run on ``db``: its
    transaction's BEGIN, the rows waiting."""
    _send_begin(db)
    flush(db)


def flush(db: sa.Connection, last: bool = False) -> None:
    """Write the rows waiting on ``db``, if any; ``last``: nothing more runs in this
    transaction, so rows that fit in one statement may go as a transaction of their own."""
    gathered: _Gathered | None = db.info.get(_GATHERED)
    if gathered is None or not gathered.rows:
        return
    statement, rows = gathered.statement, gathered.rows
    assert statement is not None
    gathered.rows = []
    if db.dialect.name != "sqlite":
        # psycopg sends a list of rows in one round trip (pipeline mode).
        _execute(db, statement, rows)
        return
    head, row, names = _many_rows(statement)
    per_statement = _SQLITE_PARAMETERS // len(names)
    if last and len(rows) <= per_statement:
        # One statement, and nothing after it: a transaction by itself, with no BEGIN.
        end(db)
    for start in range(0, len(rows), per_statement):
        chunk = rows[start:start + per_statement]
        run_sql(db, head + ", ".join([row] * len(chunk)),
                [values[name] for values in chunk for name in names])


def _execute(db: sa.Connection, statement: ClauseElement,
             rows: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> None:
    run_sql(db, _sql(statement, db.dialect), rows, many=not isinstance(rows, Mapping))


def run_sql(db: sa.Connection, sql: str, parameters: Any = (), many: bool = False) -> None:
    """Run ``sql`` on ``db``'s driver connection, past SQLAlchemy's execution machinery,
    after its transaction's BEGIN; its error wrapped as SQLAlchemy would wrap it."""
    _send_begin(db)
    _run_sql(db, sql, parameters, many)


def _send_begin(db: sa.Connection) -> None:
    sql = db.info.pop(_BEGIN, None)
    if sql is not None:
        _run_sql(db, sql)


def _run_sql(db: sa.Connection, sql: str, parameters: Any = (), many: bool = False) -> None:
    driver = db.connection.driver_connection
    assert driver is not None
    cursor = driver.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, parameters)
    except db.dialect.loaded_dbapi.Error as exc:
        raise sa.exc.DBAPIError.instance(sql, parameters, exc, db.dialect.loaded_dbapi.Error
                                         ) from exc
    finally:
        cursor.close()
