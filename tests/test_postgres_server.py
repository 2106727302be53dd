"""The throwaway PostgreSQL of the test session: it runs, and each test's database is its
own."""

from __future__ import annotations

import psycopg

from tests import postgres


def test_each_test_gets_an_empty_database_of_its_own(postgres_url: str,
                                                     postgres_server: postgres.Server
                                                     ) -> None:
    plain = postgres_url.replace("+psycopg", "")
    with psycopg.connect(plain, connect_timeout=10) as db:
        db.execute("CREATE TABLE mine (x integer)")
        tables = db.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
                            ).fetchone()
        assert tables == (1,)
        assert db.execute("SHOW synchronous_commit").fetchone() == ("on",)
    assert postgres_server.data.is_dir()


def test_a_second_database_does_not_see_the_first(postgres_url: str) -> None:
    plain = postgres_url.replace("+psycopg", "")
    with psycopg.connect(plain, connect_timeout=10) as db:
        tables = db.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
                            ).fetchone()
    assert tables == (0,)
