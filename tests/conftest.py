"""The worker pools the sandbox and SDK tests run handlers in, shared by every module.

Starting a pool's workers takes about half a second, so the modules share two pools for
the whole session instead of starting their own: ``pool``, the pool of the segfn pytest
plugin (segfn/testing.py), which the examples' tests and handler authors' tests use too;
and ``short_pool``, whose workers stop a runaway handler after ``SHORT.timeout`` seconds,
for the tests of the limits themselves. A test that needs other limits or modules starts
a pool of its own.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from segfn.sandbox.pool import BlockingPool, Limits
from tests import postgres

SHORT = Limits(timeout=1.0, grace=0.5)


@pytest.fixture(scope="session")
def pool(segfn_pool: BlockingPool) -> BlockingPool:
    return segfn_pool


@pytest.fixture(scope="session")
def short_pool() -> Iterator[BlockingPool]:
    with BlockingPool(size=2, limits=SHORT) as blocking:
        yield blocking


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[postgres.Server]:
    """The session's throwaway PostgreSQL (tests/postgres.py); a test that needs it fails,
    never skips, on a machine without PostgreSQL."""
    try:
        server = postgres.start()
    except postgres.Missing as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()


_databases = itertools.count(1)
# A database at this segfn's schema, made once a session: each test's copy is a clone.
_MIGRATED = "segfn_migrated"


def _admin(server: postgres.Server, statement: str) -> None:
    with psycopg.connect(server.url().replace("+psycopg", ""), autocommit=True,
                         connect_timeout=10) as admin:
        admin.execute(statement)


@pytest.fixture(scope="session")
def _migrated_template(postgres_server: postgres.Server) -> str:
    from runner.db import engine as engines
    from runner.db import migrate

    _admin(postgres_server, f"CREATE DATABASE {_MIGRATED}")
    engine = engines.create(postgres_server.url(_MIGRATED))
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    return _MIGRATED


def _fresh(server: postgres.Server, template: str | None) -> Iterator[str]:
    name = f"test_{next(_databases)}"
    _admin(server, f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
    yield server.url(name)
    _admin(server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def postgres_url(postgres_server: postgres.Server) -> Iterator[str]:
    """A fresh, empty database of its own for one test, dropped after it."""
    yield from _fresh(postgres_server, None)


@pytest.fixture
def migrated_postgres_url(postgres_server: postgres.Server, _migrated_template: str
                          ) -> Iterator[str]:
    """A fresh database at this segfn's schema for one test, dropped after it."""
    yield from _fresh(postgres_server, _migrated_template)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each backend in turn, empty: a SQLite file's URL in the test's folder, or a fresh
    PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'segfn.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each backend in turn, as a ``Store`` takes it: a SQLite file's path in the test's
    folder (migrated as it opens), or a fresh PostgreSQL database at this segfn's schema."""
    if request.param == "sqlite":
        return str(tmp_path / "segfn.db")
    return str(request.getfixturevalue("migrated_postgres_url"))


@pytest.fixture
def db(database_url: str) -> Iterator[sa.Connection]:
    """A connection to a fresh database of each backend at this segfn's schema, for tests
    of the functions a ``Store`` runs (they see their own writes; nothing is kept)."""
    from runner.store import open_database

    engine = open_database(database_url)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()
