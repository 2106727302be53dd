"""The one migration history on SQLite and PostgreSQL: a new database gets the schema of
runner/db/schema.py, an old SQLite file is completed and stamped, and a database at
another revision is refused, saying which."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from runner.db import engine as engines
from runner.db import migrate, schema

# The files segfn made before migrations, in their oldest shapes.
OLD_RUNNER = """
CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, message TEXT NOT NULL,
                     created_at REAL NOT NULL);
CREATE TABLE errors (id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL,
    source TEXT NOT NULL, function TEXT NOT NULL, invocation_id TEXT NOT NULL,
    type TEXT NOT NULL, message TEXT NOT NULL, request TEXT NOT NULL, logs TEXT NOT NULL,
    attempts INTEGER NOT NULL);
INSERT INTO outbox (message, created_at) VALUES ('{"n": 1}', 1.5);
INSERT INTO errors VALUES (7, 2.5, 'src', 'fn', 'inv', 'Error', 'boom', '{}', '[]', 1);
"""
# The sources table before allow_get, capture_days and dedup_header ({} adds columns).
OLD_SOURCES = """
CREATE TABLE sources (id TEXT PRIMARY KEY,
    workspace TEXT NOT NULL REFERENCES workspaces (id), name TEXT NOT NULL,
    function TEXT NOT NULL REFERENCES functions (id), version INTEGER NOT NULL,
    webhook_token TEXT NOT NULL UNIQUE,
    settings TEXT NOT NULL, secrets TEXT NOT NULL, write_key TEXT, paused INTEGER NOT NULL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, {}UNIQUE (workspace, name));
"""
OLD_CATALOG = OLD_SOURCES.format("") + (
    "INSERT INTO sources VALUES ('src_1', 'ws', 'a', 'fn', 1, 'tok', '{}', '{}', NULL, 0, 0, "
    "0);")

# A source as revision 0001 kept it.
FIRST_REVISION_ROWS = (
    "INSERT INTO workspaces VALUES ('ws', 'w', 0)",
    "INSERT INTO functions VALUES ('fn', 'ws', 'f', '', 2, 0, 0)",
    "INSERT INTO sources VALUES ('src', 'ws', 's', 'fn', 2, 'tok', '{}', '{}', NULL, 0, 0, 0,"
    " 0, 0, NULL)")


def differences(engine: sa.Engine) -> list[object]:
    with engine.connect() as connection:
        return list(compare_metadata(MigrationContext.configure(connection), schema.metadata))


def _nullable_key(difference: object) -> bool:
    # Old files said "id TEXT PRIMARY KEY", which SQLite lets be NULL (a quirk it keeps for
    # compatibility); segfn always sets ids, so such a file needs no rebuilding.
    return (isinstance(difference, list) and difference[0][0] == "modify_nullable"
            and difference[0][3] == "id")


def test_a_new_database_gets_the_schema_and_is_stamped(empty_database: str) -> None:
    engine = engines.create(empty_database)
    try:
        assert migrate.upgrade(engine) == (None, migrate.head())
        assert migrate.revision(engine) == migrate.head()
        assert differences(engine) == []
        assert migrate.upgrade(engine) == (migrate.head(), migrate.head())  # nothing to do
        migrate.check(engine)
    finally:
        engine.dispose()


def test_an_empty_database_is_refused_naming_the_command(empty_database: str) -> None:
    engine = engines.create(empty_database)
    try:
        with pytest.raises(migrate.SchemaMismatch) as refused:
            migrate.check(engine)
    finally:
        engine.dispose()
    message = str(refused.value)
    assert "has no segfn schema yet" in message
    assert f"needs revision {migrate.head()}" in message
    assert f"segfn admin migrate --database {engines.describe(empty_database)}" in message


def test_a_newer_schema_is_refused_by_check_and_by_upgrade(empty_database: str) -> None:
    engine = engines.create(empty_database)
    try:
        migrate.upgrade(engine)
        with engine.begin() as connection:
            connection.execute(sa.text("UPDATE alembic_version SET version_num = 'f00d'"))
        for refuse in (migrate.check, migrate.upgrade):
            with pytest.raises(migrate.SchemaMismatch, match="revision f00d, newer than "
                               f"this segfn knows \\(it needs {migrate.head()}\\)"):
                refuse(engine)
        assert migrate.revision(engine) == "f00d"
    finally:
        engine.dispose()


def test_nodes_migrating_at_once_migrate_once(empty_database: str) -> None:
    engine = engines.create(empty_database)
    outcomes: list[object] = []

    def start() -> None:
        try:
            outcomes.append(migrate.upgrade(engine)[0])
        except Exception as exc:  # noqa: BLE001 - the test shows it
            outcomes.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        # One found nothing and made the schema; the others waited and found it made.
        assert sorted(map(str, outcomes)) == sorted(["None"] + [migrate.head()] * 2)
        assert differences(engine) == []
    finally:
        engine.dispose()


@pytest.mark.parametrize("old", [OLD_RUNNER, OLD_CATALOG])
def test_a_file_an_earlier_segfn_made_is_completed_and_stamped(tmp_path: Path,
                                                                old: str) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.executescript(old)
    db.close()
    engine = migrate.prepare(path, automatic=True)
    try:
        assert migrate.revision(engine) == migrate.head()
        assert [d for d in differences(engine) if not _nullable_key(d)] == []
        with engine.connect() as connection:
            if old is OLD_RUNNER:
                assert connection.execute(sa.text(
                    "SELECT message, write_key, source, workspace FROM outbox")).all() == [
                    ('{"n": 1}', None, "", "")]
                assert connection.execute(sa.text("SELECT id, replay FROM errors")).all() == [
                    (7, None)]
            else:
                assert connection.execute(sa.text(
                    "SELECT allow_get, capture_days, dedup_header FROM sources")).all() == [
                    (0, 0, None)]
    finally:
        engine.dispose()


def test_prepare_without_migrating_refuses_an_old_file(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.executescript(OLD_RUNNER)
    db.close()
    with pytest.raises(migrate.SchemaMismatch, match=f"{path} has no segfn schema yet"):
        migrate.prepare(path, automatic=False)
    with sqlite3.connect(path) as db:  # and changed nothing
        assert db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'alembic_version'"
                          ).fetchone() == (0,)
    db.close()


def test_a_database_at_the_first_revision_is_brought_to_the_head(empty_database: str
                                                                 ) -> None:
    engine = engines.create(empty_database)
    try:
        with engine.begin() as connection:
            config = migrate._config()
            config.attributes["connection"] = connection
            command.upgrade(config, "0001")
            for statement in FIRST_REVISION_ROWS:
                connection.execute(sa.text(statement))
        assert migrate.revision(engine) == "0001"
        with pytest.raises(migrate.SchemaMismatch, match="is at schema revision 0001"):
            migrate.check(engine)
        assert migrate.upgrade(engine) == ("0001", migrate.head())
        assert differences(engine) == []
        with engine.connect() as connection:
            assert connection.execute(sa.text(
                "SELECT id, version, shadow_version FROM sources")).all() == [("src", 2, None)]
    finally:
        engine.dispose()
