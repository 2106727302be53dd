"""The runner's durable state in one SQLite file, written with group commit.

Every change goes through one writer thread, which takes all the changes waiting and
runs them in one transaction, each inside a savepoint of its own, then commits once. A
caller's await returns only after that commit, so an answered webhook is on disk, and a
burst of requests costs one disk flush rather than one each. A group that cannot commit (a
full disk) fails its own changes, each caller hearing why, and no others.

Reads (``Store.read``) run apart, on a connection and thread of their own: WAL lets them
see the last commit while the writer works, and a disk that refuses writes does not
refuse them.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

_BATCH = 512

# The runner's file in its data dir: events, outbox, retries, errors, dead letters,
# captured deliveries, and the answers given to deliveries their providers named
# (runner.dedup).
DATABASE_FILE = "segfn.db"

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message TEXT NOT NULL,
    created_at REAL NOT NULL,
    write_key TEXT,
    source TEXT NOT NULL DEFAULT '',
    workspace TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    invocation_id TEXT NOT NULL,
    message TEXT NOT NULL,
    received_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS objects (
    source TEXT NOT NULL,
    collection TEXT NOT NULL,
    object_id TEXT NOT NULL,
    properties TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (source, collection, object_id)
);
CREATE TABLE IF NOT EXISTS retries (
    invocation_id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    request TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    first_wait REAL NOT NULL,
    due_at REAL NOT NULL,
    last_error TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS retries_due ON retries (due_at);
CREATE TABLE IF NOT EXISTS errors (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    source TEXT NOT NULL,
    function TEXT NOT NULL,
    invocation_id TEXT NOT NULL,
    type TEXT NOT NULL,
    message TEXT NOT NULL,
    request TEXT NOT NULL,
    logs TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    replay TEXT
);
CREATE INDEX IF NOT EXISTS errors_function ON errors (function, at);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    status INTEGER NOT NULL,
    response TEXT NOT NULL,
    batch TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT '',
    workspace TEXT NOT NULL DEFAULT ''
);
-- Deliveries kept for replay (runner/captures.py).
CREATE TABLE IF NOT EXISTS captures (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    expires_at REAL NOT NULL,
    source TEXT NOT NULL,
    invocation_id TEXT NOT NULL,
    request TEXT NOT NULL,
    size INTEGER NOT NULL,
    emitted TEXT NOT NULL,
    error TEXT
);
CREATE INDEX IF NOT EXISTS captures_source ON captures (source, id);
CREATE INDEX IF NOT EXISTS captures_expiry ON captures (expires_at);
-- Each source's number and bytes of captures, which bound them.
CREATE TABLE IF NOT EXISTS capture_totals (
    source TEXT PRIMARY KEY,
    count INTEGER NOT NULL,
    bytes INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS answers (
    invocation_id TEXT PRIMARY KEY,
    at REAL NOT NULL,
    status INTEGER NOT NULL,
    reply TEXT
);
CREATE INDEX IF NOT EXISTS answers_at ON answers (at);
"""


def migrate(db: sqlite3.Connection) -> None:
    """Bring a file made by an earlier version up to ``SCHEMA``."""
    # One transaction: two processes opening an old file must not both add the column.
    db.execute("BEGIN IMMEDIATE")
    try:
        columns = {row[1] for row in db.execute("PRAGMA table_info(outbox)")}
        if "write_key" not in columns:
            # NULL: these rows were meant for the runner's own write key.
            db.execute("ALTER TABLE outbox ADD COLUMN write_key TEXT")
        for table in ("outbox", "dead_letters"):
            have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
            for column in ("source", "workspace"):
                if column not in have:
                    # '': rows from before dead letters named whose they were.
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {column} TEXT NOT NULL "
                               "DEFAULT ''")
        if "replay" not in {row[1] for row in db.execute("PRAGMA table_info(errors)")}:
            # NULL: entries from before retries of the errors log kept no original request.
            db.execute("ALTER TABLE errors ADD COLUMN replay TEXT")
        db.execute("CREATE INDEX IF NOT EXISTS dead_letters_source ON dead_letters (source)")
        # Here, not in SCHEMA: an old file has the column only once the line above ran.
        db.execute("CREATE INDEX IF NOT EXISTS outbox_write_key ON outbox (write_key)")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def connect(path: Path | str) -> sqlite3.Connection:
    """A connection in autocommit mode with the pragmas every user of the file needs."""
    db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False,
                         timeout=30)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    # FULL: a committed transaction survives power loss too; group commit pays for it.
    db.execute("PRAGMA synchronous=FULL")
    return db


class Store:
    """The database file and its writer thread."""

    def __init__(self, path: Path | str, schema: str = SCHEMA,
                 upgrade: Callable[[sqlite3.Connection], None] | None = migrate) -> None:
        """Open ``path`` with ``schema`` (the runner's by default), then ``upgrade`` a file
        an earlier version made (None: nothing to upgrade)."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = connect(self.path)
        self._db.executescript(schema)
        if upgrade is not None:
            upgrade(self._db)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._write_loop, daemon=True,
                                        name="segfn-store")
        self._thread.start()
        self._reader = connect(self.path)
        self._reads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="segfn-read")

    async def read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``query`` on the reading connection; it must change nothing."""
        return await asyncio.get_running_loop().run_in_executor(
            self._reads, self._read, query)

    def _read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        # One snapshot for the whole query, as a change sees in the writer.
        self._reader.execute("BEGIN")
        try:
            return query(self._reader)
        finally:
            self._reader.execute("COMMIT")

    async def run(self, change: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``change`` in the next group transaction; return once it is committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put((change, future, loop))
        return await future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        self._db.close()
        self._reads.shutdown(wait=True)
        self._reader.close()

    def _write_loop(self) -> None:
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

    def _commit(self, batch: list[Any]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        try:
            self._db.execute("BEGIN IMMEDIATE")
            for change, _, _ in batch:
                self._db.execute("SAVEPOINT change")
                try:
                    outcomes.append((True, change(self._db)))
                    self._db.execute("RELEASE change")
                except Exception as exc:  # noqa: BLE001 - the caller gets its own error
                    self._db.execute("ROLLBACK TO change")
                    self._db.execute("RELEASE change")
                    outcomes.append((False, exc))
            self._db.execute("COMMIT")
        except Exception as exc:  # noqa: BLE001 - every caller in the group hears of it
            self._rollback()
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

    def _rollback(self) -> None:
        if not self._db.in_transaction:
            return  # SQLite rolled back by itself (SQLITE_FULL does)
        try:
            self._db.execute("ROLLBACK")
        except sqlite3.Error:
            # The writer lives on: the next BEGIN finds out whether the file is usable.
            pass


def _settle_all(answers: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for future, ok, value in answers:
        if future.done():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
