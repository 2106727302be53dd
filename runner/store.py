"""The runner's durable state in one database, written with group commit.

The database is a SQLite file (the default: a node's own data dir) or PostgreSQL (a
fleet's shared state), through runner/db. Every change goes through one writer thread,
which takes all the changes waiting and runs them in one transaction, then commits once.
Should one of them raise, the group is rolled back and run again, each change inside a
savepoint of its own, so that the one that raised fails alone: a change is a function of
the database and nothing else, and may run twice. A caller's await returns only after
that commit (SQLite: on disk with synchronous=FULL; PostgreSQL: synchronous_commit on), so an
answered webhook is durable, and a burst of requests costs one disk flush or one round
trip rather than one each. A group that cannot commit (a full disk, a database out of
reach) fails its own changes, each caller hearing why, and no others; the writer then
starts the next group on a new connection.

Reads (``Store.read``) run apart, on a connection and thread of their own, in one
snapshot each: on SQLite, WAL lets them see the last commit while the writer works, and a
disk that refuses writes does not refuse them.

A change or a query is a function of a ``sqlalchemy.Connection`` (``Db``), written in
SQLAlchemy Core so that it runs on either backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa

from runner.db import engine as engines
from runner.db import hot, migrate
from segfn import priority

T = TypeVar("T")
Db = sa.Connection

_BATCH = 512

# The runner's file in its data dir: events, outbox, retries, errors, dead letters,
# captured deliveries, and the answers given to deliveries their providers named
# (runner.dedup).
DATABASE_FILE = "segfn.db"


class Store:
    """The database and its writer thread."""

    def __init__(self, database: str | Path | sa.URL) -> None:
        """Open ``database``, a SQLite file's path or a database URL. A SQLite file is
        migrated to this segfn's schema first; any other database must be there already
        (``segfn admin migrate``), or this raises ``migrate.SchemaMismatch``."""
        self.url = engines.url_of(database)
        self.engine = open_database(database)
        self._writer: Db | None = None
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._write_loop, daemon=True,
                                        name="segfn-store")
        self._thread.start()
        self._reader: Db | None = None
        self._reads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="segfn-read",
                                         initializer=priority.give_way_to_event_loop)

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.url)

    @property
    def where(self) -> str:
        """The database as shown to people: a file's path, or a URL without password."""
        return engines.describe(self.url)

    async def read(self, query: Callable[[Db], T]) -> T:
        """Run ``query`` on the reading connection; it must change nothing."""
        return await asyncio.get_running_loop().run_in_executor(
            self._reads, self._read, query)

    def _read(self, query: Callable[[Db], T]) -> T:
        if self._reader is None:
            self._reader = self._connect(reading=True)
        try:
            # One snapshot for the whole query, as a change sees in the writer.
            with self._reader.begin():
                return query(self._reader)
        except sa.exc.DBAPIError:
            self._drop_reader()
            raise

    async def run(self, change: Callable[[Db], T]) -> T:
        """Run ``change`` in the next group transaction; return once it is committed.
        ``change`` may run twice (see the module docstring): it acts on the database only."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put((change, future, loop))
        return await future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        self._reads.shutdown(wait=True)
        self._drop_reader()
        self.engine.dispose()

    def _connect(self, reading: bool) -> Db:
        connection = self.engine.connect()
        if reading:
            options: dict[str, Any] = {engines.READING: True}
            if not self.is_sqlite:
                options.update(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            connection = connection.execution_options(**options)
        return connection

    def _drop_reader(self) -> None:
        if self._reader is not None:
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                self._reader.close()
            self._reader = None

    def _write_loop(self) -> None:
        priority.give_way_to_event_loop()
        try:
            while True:
                first = self._queue.get()
                if first is None:
                    return
                batch = [first]
                while len(batch) < _BATCH:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is None:
                        self._queue.put(None)
                        break
                    batch.append(item)
                self._commit(batch)
        finally:
            self._drop_writer()

    def _commit(self, batch: list[Any]) -> None:
        changes = [change for change, _, _ in batch]
        try:
            if self._writer is None:
                self._writer = self._connect(reading=False)
            outcomes = _all_at_once(self._writer, changes)
            if outcomes is None:
                outcomes = _each_on_its_own(self._writer, changes)
        except Exception as exc:  # noqa: BLE001 - every caller in the group hears of it
            # The next group starts afresh: this connection may be broken (SQLite rolled
            # back by itself on a full disk; PostgreSQL may have gone away).
            self._drop_writer()
            outcomes = [(False, exc)] * len(batch)
        # One wake-up of each event loop for the whole group, not one a caller.
        settled: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]]
        settled = {}
        for (_, future, loop), (ok, value) in zip(batch, outcomes, strict=True):
            settled.setdefault(loop, []).append((future, ok, value))
        for loop, answers in settled.items():
            # A caller whose event loop has closed hears nothing; the writer goes on.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle_all, answers)

    def _drop_writer(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                self._writer.close()
            self._writer = None


def _all_at_once(db: Db, changes: list[Callable[[Db], Any]]) -> list[tuple[bool, Any]] | None:
    """Run ``changes`` in one transaction and commit it; None, all rolled back, if one of
    them raises (a group of one: its error). No savepoint each: that would be three
    statements a change where one does, and on SQLite each gives up the GIL and, the
    event loop busy, waits to take it back (a group took 8 ms where it now takes 5)."""
    outcomes: list[tuple[bool, Any]] = []
    with db.begin() as transaction:
        try:
            # The hot writes of all of them go as few statements: a row of the last may
            # be the one the database refuses, and its error then fails the group.
            with hot.gathering(db):
                for change in changes:
                    outcomes.append((True, change(db)))
        except Exception as exc:  # noqa: BLE001 - the caller gets its own error
            transaction.rollback()
            return [(False, exc)] if len(changes) == 1 else None
    return outcomes


def _each_on_its_own(db: Db, changes: list[Callable[[Db], Any]]) -> list[tuple[bool, Any]]:
    """Run ``changes`` in one transaction, each in a savepoint of its own, so that one
    that raises is rolled back alone, and commit it."""
    outcomes: list[tuple[bool, Any]] = []
    with db.begin():
        # Savepoints on the driver's connection: SQLAlchemy's nested transactions cost
        # some 50 us each, more than a whole change (SQLite and PostgreSQL spell these
        # alike).
        for change in changes:
            hot.run_sql(db, "SAVEPOINT change")
            try:
                outcomes.append((True, change(db)))
                hot.run_sql(db, "RELEASE SAVEPOINT change")
            except Exception as exc:  # noqa: BLE001 - the caller gets its own error
                hot.run_sql(db, "ROLLBACK TO SAVEPOINT change")
                hot.run_sql(db, "RELEASE SAVEPOINT change")
                outcomes.append((False, exc))
    return outcomes


def is_sqlite(database: str | Path | sa.URL) -> bool:
    return engines.url_of(database).get_backend_name() == "sqlite"


def open_database(database: str | Path | sa.URL) -> sa.Engine:
    """An engine on ``database`` at this segfn's schema, for work outside a ``Store`` (the
    CLI's offline commands): a SQLite file is migrated first, as a ``Store`` would."""
    return migrate.prepare(database, automatic=is_sqlite(database))


@contextlib.contextmanager
def transaction(database: str | Path) -> Iterator[Db]:
    """One transaction on ``database`` (see ``open_database``), committed when the block
    ends, rolled back if it raises."""
    engine = open_database(database)
    try:
        with engine.begin() as db:
            yield db
    finally:
        engine.dispose()


def _settle_all(answers: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for future, ok, value in answers:
        if future.done():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
