"""The change feed in the store (runner/service/feed.py): notes read back by window and
trimmed, on both backends; on PostgreSQL a note wakes a listener once it commits."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from runner.service import feed
from runner.store import open_database
from tests.runner.harness import wait_until


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    opened = open_database(database_url)
    yield opened
    opened.dispose()


def test_notes_are_read_by_window_and_trimmed(engine: sa.Engine,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    for at, sources in ((1000.0, ["src_a", "src_b"]), (1008.0, ["src_a"])):
        monkeypatch.setattr(feed.time, "time", lambda at=at: at)
        with engine.begin() as db:
            feed.note(db, sources)
    with engine.begin() as db:
        feed.note(db, [])  # nothing changed: nothing noted
        now = 1000.0 + feed.WINDOW + 1
        assert [source for _, source in feed.recent(db, now)] == ["src_a"]
        assert [source for _, source in feed.recent(db, 1009.0)] == ["src_a", "src_b", "src_a"]
        feed.trim(db, 1008.0 + feed.KEEP + 1)
        assert feed.recent(db, 1009.0) == []


def test_a_note_wakes_a_listener_when_it_commits(migrated_postgres_url: str) -> None:
    engine = open_database(migrated_postgres_url)
    woken, stop = threading.Event(), threading.Event()
    listener = threading.Thread(target=feed.listen, args=(engine, woken.set, stop))
    listener.start()
    try:
        # Listening before the note: a LISTEN sees only what is sent after it.
        def listening() -> int:
            with engine.connect() as db:
                return int(db.execute(sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN%'")
                ).scalar() or 0)

        wait_until(listening)
        with engine.begin() as db:
            feed.note(db, ["src_a"])
            assert not woken.wait(0.5)  # not before the commit
        assert woken.wait(5)
    finally:
        stop.set()
        listener.join(5)
        engine.dispose()
    assert not listener.is_alive()
