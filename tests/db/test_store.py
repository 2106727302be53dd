"""The Store on SQLite and PostgreSQL: group commit (a burst is one transaction; a change
that raises fails alone, its group run again with a savepoint a change), callers answered
only after the commit, reads apart from the writer, and a database out of reach refusing
changes until it is back."""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from runner import events
from runner.db import engine as engines
from runner.db import migrate
from runner.delivery import waiting_keys
from runner.store import Db, Store
from segfn.sandbox.invocation import Result
from tests import postgres
from tests.stored import peek

BURST = 50


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = Store(database_url)
    yield opened
    opened.close()


def queue(key: str) -> object:
    return lambda db: events.queue_messages(db, "src", [{"n": 1}], key, "ws")


def test_a_burst_is_one_transaction_and_each_caller_hears_after_the_commit(
        store: Store) -> None:
    commits: list[int] = []
    sa.event.listen(store.engine, "commit", lambda _: commits.append(1))
    release = threading.Event()

    def first(db: Db) -> None:
        # Holds the writer until the rest of the burst waits behind it.
        assert release.wait(10)
        events.queue_messages(db, "src", [{"n": 0}], "k0", "ws")

    async def burst() -> list[object]:
        calls = [asyncio.ensure_future(store.run(first))]
        calls += [asyncio.ensure_future(store.run(queue(f"k{n}"))) for n in range(1, BURST)]
        await asyncio.sleep(0.2)  # every call is queued
        release.set()
        async with asyncio.timeout(30):
            done = await asyncio.gather(*calls)
        # Answered: committed, so another connection sees every row.
        assert len(peek(store, waiting_keys)) == BURST
        return done

    assert asyncio.run(burst()) == [None] * BURST
    # The group the writer took with the first change, then one of all that waited behind
    # it: at most two transactions for fifty changes.
    assert 1 <= len(commits) <= 2


def test_a_failing_change_fails_alone_and_the_rest_of_its_group_commits(
        store: Store) -> None:
    def fails(db: Db) -> None:
        events.queue_messages(db, "src", [{"n": 2}], "gone", "ws")
        raise ValueError("this change is refused")

    async def group() -> list[object]:
        async with asyncio.timeout(30):
            return await asyncio.gather(store.run(queue("a")), store.run(fails),
                                        store.run(queue("b")), return_exceptions=True)

    first, failed, last = asyncio.run(group())
    assert (first, last) == (None, None)
    assert isinstance(failed, ValueError) and str(failed) == "this change is refused"
    assert sorted(peek(store, waiting_keys)) == ["a", "b"]  # nothing of the failed one


def held_group(store: Store, changes: list[object]) -> list[object]:
    """Run ``changes`` as one group: the writer is held until all of them wait behind it."""
    release = threading.Event()

    def hold(db: Db) -> None:
        assert release.wait(10)

    async def group() -> list[object]:
        held = asyncio.ensure_future(store.run(hold))
        await asyncio.sleep(0.1)  # the writer runs the hold alone
        calls = [asyncio.ensure_future(store.run(change)) for change in changes]
        await asyncio.sleep(0.2)  # every call is queued behind it
        release.set()
        async with asyncio.timeout(30):
            await held
            return await asyncio.gather(*calls, return_exceptions=True)

    return asyncio.run(group())


def counted(runs: list[str], key: str) -> object:
    def change(db: Db) -> None:
        runs.append(key)
        events.queue_messages(db, "src", [{"n": 1}], key, "ws")
    return change


def test_a_group_that_commits_runs_each_change_once(store: Store) -> None:
    runs: list[str] = []
    assert held_group(store, [counted(runs, k) for k in "abc"]) == [None] * 3
    assert runs == ["a", "b", "c"]
    assert sorted(peek(store, waiting_keys)) == ["a", "b", "c"]


def test_a_group_with_a_change_that_raises_runs_again_and_keeps_one_run(
        store: Store) -> None:
    runs: list[str] = []

    def fails(db: Db) -> None:
        runs.append("x")
        events.queue_messages(db, "src", [{"n": 2}], "gone", "ws")
        raise ValueError("this change is refused")

    first, failed, last = held_group(store, [counted(runs, "a"), fails, counted(runs, "b")])
    assert (first, last) == (None, None) and isinstance(failed, ValueError)
    # Rolled back at the error and run again, a savepoint each: the changes before the
    # one that raised ran twice, and what they did is in the database once.
    assert runs == ["a", "x", "a", "x", "b"]
    rows = peek(store, lambda db: db.execute(sa.text("SELECT write_key FROM outbox")).all())
    assert sorted(row[0] for row in rows) == ["a", "b"]


def test_a_change_alone_in_its_group_that_raises_runs_once(store: Store) -> None:
    runs: list[str] = []

    def fails(db: Db) -> None:
        runs.append("x")
        raise ValueError("refused")

    (failed,) = held_group(store, [fails])
    assert isinstance(failed, ValueError) and runs == ["x"]


# A group's hot writes (runner.db.hot) go to the database together, as few statements of
# many rows; whatever the group runs must see the database as if each had run at once.


def stored_events(store: Store) -> list[tuple[str, str]]:
    rows = peek(store, lambda db: db.execute(
        sa.text("SELECT source, invocation_id FROM events ORDER BY id")).all())
    return [(row[0], row[1]) for row in rows]


def saved(source: str, count: int = 1) -> object:
    result = Result(messages=[{"type": "track", "n": n} for n in range(count)])
    return lambda db: events.save_result(db, source, f"{source}-inv", result, outbox=False)


def test_every_statement_of_a_group_sees_the_hot_writes_before_it(store: Store) -> None:
    def count_events(db: Db) -> int:
        return int(db.execute(sa.text("SELECT count(*) FROM events")).scalar_one())

    done = held_group(store, [saved("a"), count_events, queue("k"), saved("b", 2),
                              count_events, saved("c")])
    assert done == [None, 1, None, None, 3, None]
    assert stored_events(store) == [("a", "a-inv"), ("b", "b-inv"), ("b", "b-inv"),
                                    ("c", "c-inv")]
    assert peek(store, waiting_keys) == ["k"]


def test_a_hot_write_the_database_refuses_fails_its_own_change_alone(store: Store) -> None:
    def refused(db: Db) -> None:
        # NOT NULL: refused by the database only when the row reaches it.
        events.save_result(db, None, "x-inv", Result(messages=[{"type": "track"}]),  # type: ignore[arg-type]
                           outbox=False)

    first, failed, last = held_group(store, [saved("a"), refused, saved("b")])
    assert (first, last) == (None, None)
    assert isinstance(failed, sa.exc.IntegrityError)
    assert stored_events(store) == [("a", "a-inv"), ("b", "b-inv")]


def test_a_group_of_more_rows_than_one_statement_takes_stores_them_all_in_order(
        store: Store) -> None:
    assert held_group(store, [saved("a", 700), saved("b", 700)]) == [None, None]
    assert stored_events(store) == [("a", "a-inv")] * 700 + [("b", "b-inv")] * 700
    messages = peek(store, lambda db: events.read_events(db, limit=1400))
    assert [event["message"]["n"] for event in messages] == [*range(700), *range(700)]


def traced(store: Store) -> list[str]:
    """The SQL the store's writer sends SQLite from now on, as SQLite saw it."""
    statements: list[str] = []
    sa.event.listen(store.engine, "connect",
                    lambda dbapi, _: dbapi.set_trace_callback(statements.append))
    store.engine.dispose()  # the connection left from opening it: the writer makes its own
    return statements


# PostgreSQL takes a list of rows in one round trip as it is (psycopg's pipeline mode).
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_hot_writes_of_a_group_reach_sqlite_as_one_statement_its_own_transaction(
        store: Store) -> None:
    statements = traced(store)
    assert held_group(store, [saved(name) for name in "abcde"]) == [None] * 5
    # No BEGIN and COMMIT around it (the hold's group sent nothing at all): each statement
    # is one more time the writer gives up the GIL and waits for the event loop to hand
    # it back. A statement alone is a transaction, committed and synced as it returns.
    (insert,) = statements
    assert insert.startswith("INSERT INTO events") and insert.count("), (") == 4
    assert [source for source, _ in stored_events(store)] == list("abcde")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_group_of_several_statements_is_one_transaction_begun_before_the_first(
        store: Store) -> None:
    def fails(db: Db) -> None:
        raise ValueError("refused")

    statements = traced(store)
    assert held_group(store, [saved("a", 700), queue("k"), saved("b")])[1:] == [None] * 2
    assert statements[0] == "BEGIN IMMEDIATE" and statements.count("COMMIT") == 1
    assert statements[-1] == "COMMIT"
    statements.clear()
    # Run again a savepoint a change: still one transaction, the write lock taken first.
    done = held_group(store, [saved("c"), fails, saved("d")])
    assert done[0::2] == [None, None] and isinstance(done[1], ValueError)
    # The first try raised before any statement went: nothing reached SQLite to roll back.
    assert statements[:2] == ["BEGIN IMMEDIATE", "SAVEPOINT change"]
    assert statements.count("COMMIT") == 1 and statements[-1] == "COMMIT"
    assert [source for source, _ in stored_events(store)][-3:] == ["b", "c", "d"]


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux scheduling policies")
def test_the_writer_and_the_reader_give_way_to_the_event_loop(store: Store) -> None:
    # segfn.priority: a commit's wake-ups must not take the CPU from the runner's loop.
    asyncio.run(store.run(queue("k")))
    asyncio.run(store.read(lambda db: db.execute(sa.text("SELECT 1")).scalar()))
    helpers = {thread.name.split("_")[0]: thread.native_id for thread in threading.enumerate()
               if thread.name.startswith(("segfn-store", "segfn-read"))}
    assert set(helpers) == {"segfn-store", "segfn-read"}
    assert {os.sched_getscheduler(tid) for tid in helpers.values()} == {os.SCHED_BATCH}
    assert os.sched_getscheduler(0) == os.SCHED_OTHER


def test_reads_see_the_last_commit(store: Store) -> None:
    async def write_then_read() -> list[str | None]:
        async with asyncio.timeout(30):
            await store.run(queue("a"))
            return await store.read(waiting_keys)

    assert asyncio.run(write_then_read()) == ["a"]


def test_a_database_out_of_reach_refuses_changes_until_it_is_back() -> None:
    server = postgres.start()
    try:
        engine = engines.create(server.url())
        migrate.upgrade(engine)
        engine.dispose()
        store = Store(server.url())
        try:
            save = lambda db: events.save_result(  # noqa: E731
                db, "src", "inv", Result(messages=[{"type": "track", "event": "E"}]), outbox=True)
            asyncio.run(store.run(save))
            subprocess.run(server.pg_ctl("stop", "-m", "immediate", "-t", "10"), check=True,
                           capture_output=True, timeout=30)

            async def refused() -> BaseException | None:
                async with asyncio.timeout(30):
                    try:
                        await store.run(save)
                    except sa.exc.OperationalError as exc:
                        return exc
                return None

            assert asyncio.run(refused()) is not None
            subprocess.run(server.pg_ctl("start", "-w", "-t", "30", "-l",
                                         str(server.folder / "server.log"), "-o",
                                         f"-p {server.port} -h 127.0.0.1 -k {server.folder}"),
                           check=True, capture_output=True, timeout=40)
            asyncio.run(store.run(save))  # a new connection, the same store
            assert len(peek(store, lambda db: db.execute(sa.text(
                "SELECT id FROM outbox")).all())) == 2
        finally:
            store.close()
    finally:
        server.stop()
