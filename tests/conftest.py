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


@pytest.fixture
def postgres_url(postgres_server: postgres.Server) -> Iterator[str]:
    """A fresh, empty database of its own for one test, dropped after it."""
    name = f"test_{next(_databases)}"
    plain = postgres_server.url().replace("+psycopg", "")
    with psycopg.connect(plain, autocommit=True, connect_timeout=10) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    yield postgres_server.url(name)
    with psycopg.connect(plain, autocommit=True, connect_timeout=10) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each backend in turn: a SQLite file in the test's folder, or a fresh PostgreSQL
    database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'segfn.db'}"
    return str(request.getfixturevalue("postgres_url"))
