"""Engines for the state's database: a SQLite file (the zero-setup default) or PostgreSQL.

``database`` is a URL (``postgresql://…``, ``sqlite:///path``) or the path of a SQLite
file. On SQLite every connection uses WAL and ``synchronous=FULL`` (a committed
transaction survives power loss too; group commit pays for it), and a transaction takes
the write lock before its first statement (``BEGIN IMMEDIATE``), so that two writers never
deadlock upgrading a read; a connection given ``execution_options(reading=True)`` begins
a plain snapshot instead. A transaction that is one insert is that statement alone
(runner.db.hot). On PostgreSQL every session commits synchronously whatever the server's
default, so a commit is on disk before anyone is answered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from runner.db import hot

# Seconds a SQLite writer waits for another process's lock, or PostgreSQL for a connection.
LOCK_TIMEOUT = 30
CONNECT_TIMEOUT = 10
# Execution option of a connection that only reads (SQLite: no write lock taken).
READING = "reading"


def url_of(database: str | Path | sa.URL) -> sa.URL:
    """The URL of ``database``, a URL or a SQLite file's path, with the driver segfn uses."""
    if isinstance(database, sa.URL):
        url = database
    elif "://" not in str(database):
        return sa.URL.create("sqlite+pysqlite", database=str(Path(database)))
    else:
        url = sa.make_url(str(database))
    if url.get_backend_name() == "postgresql":
        return url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() == "sqlite":
        return url.set(drivername="sqlite+pysqlite")
    raise ValueError(f"{url.render_as_string(hide_password=True)}: segfn keeps its state in "
                     "SQLite (a file path, or sqlite:///PATH) or PostgreSQL "
                     "(postgresql://USER@HOST/DATABASE)")


def describe(database: str | Path | sa.URL) -> str:
    """``database`` as shown to people: a SQLite file's path, else its URL without the
    password."""
    url = url_of(database)
    if url.get_backend_name() == "sqlite":
        return str(url.database)
    return url.set(drivername=url.get_backend_name()).render_as_string(hide_password=True)


def create(database: str | Path | sa.URL, **options: Any) -> sa.Engine:
    """An engine on ``database`` (see the module's docstring); ``options`` go to
    ``sqlalchemy.create_engine``."""
    url = url_of(database)
    if url.get_backend_name() == "sqlite":
        engine = _sqlite(url, **options)
    else:
        engine = sa.create_engine(url, pool_pre_ping=True, connect_args={
            "connect_timeout": CONNECT_TIMEOUT,
            "options": "-c synchronous_commit=on"}, **options)
    # Every statement runs after the BEGIN and the hot writes that wait before it.
    sa.event.listen(engine, "before_cursor_execute",
                    lambda connection, *_: hot.before_statement(connection))
    return engine


def _sqlite(url: sa.URL, **options: Any) -> sa.Engine:
    if url.database:
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"check_same_thread": False,
                                                 "timeout": LOCK_TIMEOUT}, **options)

    @sa.event.listens_for(engine, "connect")
    def _connected(dbapi: Any, _: Any) -> None:
        # Autocommit at the driver: the transactions are the ones begun below.
        dbapi.isolation_level = None
        dbapi.execute("PRAGMA journal_mode=WAL")
        dbapi.execute("PRAGMA synchronous=FULL")

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        reading = connection.get_execution_options().get(READING, False)
        # Sent on the driver's connection, before the first statement, if any (hot.begin).
        hot.begin(connection, "BEGIN" if reading else "BEGIN IMMEDIATE")

    for ended in ("commit", "rollback"):
        sa.event.listen(engine, ended, hot.end)
    return engine
