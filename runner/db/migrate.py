"""The one migration history of the state's database (migrations/, SQLite and PostgreSQL).

``upgrade`` brings a database to the newest revision this segfn knows, ``head()``: an
empty one gets every table, a file an earlier segfn made (no alembic_version) is completed
and stamped. It holds the database's lock while it works (SQLite's write lock, a
PostgreSQL advisory lock), so that nodes starting together migrate once. ``check`` refuses
a database at any other revision, saying which it found, which this segfn needs and what
to run.

To change the schema: change runner/db/schema.py and add a revision to
migrations/versions (the next number, ``down_revision`` the current head, its ``upgrade``
with ``op`` calls that work on both backends, e.g. ``op.add_column`` with a
``server_default`` for a NOT NULL column). tests/db/test_migrations.py compares a migrated
database with schema.py on SQLite and PostgreSQL.
"""

from __future__ import annotations

import functools
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from runner.db import engine as engines

_SCRIPTS = Path(__file__).parent / "migrations"
# Any number: it names the lock that migrations of a PostgreSQL database take.
_LOCK = 0x5E6F_0001


class SchemaMismatch(Exception):
    """The database's schema is not the one this segfn knows."""


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    return config


@functools.cache
def head() -> str:
    """The newest revision this segfn knows."""
    found = ScriptDirectory.from_config(_config()).get_current_head()
    assert found is not None
    return found


@functools.cache
def known() -> frozenset[str]:
    """Every revision this segfn knows."""
    return frozenset(script.revision
                     for script in ScriptDirectory.from_config(_config()).walk_revisions())


def revision(engine: sa.Engine) -> str | None:
    """The database's revision; None for an empty one or one an earlier segfn made."""
    with engine.connect().execution_options(**{engines.READING: True}) as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: sa.Engine) -> tuple[str | None, str]:
    """Bring the database to ``head()``: (the revision it was at, the one it is at now)."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": _LOCK})
        was = MigrationContext.configure(connection).get_current_revision()
        if was is not None and was not in known():
            raise SchemaMismatch(_newer(engine.url, was))
        config = _config()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    return was, head()


def check(engine: sa.Engine) -> None:
    """``SchemaMismatch`` unless the database is at ``head()``."""
    found, needed = revision(engine), head()
    if found == needed:
        return
    if found is not None and found not in known():
        raise SchemaMismatch(_newer(engine.url, found))
    where = engines.describe(engine.url)
    at = "has no segfn schema yet" if found is None else f"is at schema revision {found}"
    raise SchemaMismatch(f"the database {where} {at}; this segfn needs revision {needed}: "
                         f"run 'segfn admin migrate --database {where}', then start it again")


def _newer(url: sa.URL, found: str) -> str:
    return (f"the database {engines.describe(url)} is at schema "
            f"revision {found}, newer than this segfn knows (it needs {head()}): a later "
            "segfn migrated it; run that version on this node too")


def prepare(database: str | Path | sa.URL, automatic: bool) -> sa.Engine:
    """An engine on ``database`` at ``head()``: migrated first if ``automatic`` (a
    node's own SQLite file), else ``SchemaMismatch`` unless it is already there."""
    engine = engines.create(database)
    try:
        if automatic and revision(engine) != head():
            upgrade(engine)
        else:
            check(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine
