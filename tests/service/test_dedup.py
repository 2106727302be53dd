"""Provider redeliveries through a real ``segfn serve``: a source's ``dedup_header``."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from runner.db import migrate
from tests.db.test_migrations import OLD_SOURCES
from tests.runner.harness import TRACK
from tests.service.harness import Cli, Serve
from tests.service.test_handshakes import cli, function, serve  # noqa: F401 - fixtures


def test_a_source_names_its_own_header_and_copies_are_answered(
        serve: Serve, cli: Cli, tmp_path: Path) -> None:  # noqa: F811 - fixtures
    function(cli, tmp_path, "track", TRACK, [])
    source = cli.json("sources", "connect", "acme", "--function", "track")
    assert source["dedup_header"] is None
    bad = serve.api("PATCH", "/sources/acme", json={"dedup_header": "X Acme:"})
    assert bad.status_code == 400 and "is not a header name" in bad.json()["error"]["message"]
    changed = serve.api("PATCH", "/sources/acme", json={"dedup_header": "X-Acme-Delivery"})
    assert changed.json()["dedup_header"] == "X-Acme-Delivery"
    answers = [serve.webhook(source, {}, headers={"X-Acme-Delivery": "a-1"}).json()
               for _ in range(2)]
    assert answers == [{"ok": True}, {"ok": True, "duplicate": True}]
    standard = [serve.webhook(source, {}, headers={"webhook-id": "msg_1"}).json()
                for _ in range(2)]
    assert standard == [{"ok": True}, {"ok": True, "duplicate": True}]
    assert "dedup      also by X-Acme-Delivery" in cli("sources", "show", "acme").stdout
    cleared = cli.json("sources", "configure", "acme", "--no-dedup-header")
    assert cleared["dedup_header"] is None
    assert cli.json("sources", "connect", "shop", "--function", "track",
                    "--dedup-header", "X-Shop-Id")["dedup_header"] == "X-Shop-Id"
    events = serve.api("GET", "/sources/acme/events").json()["events"]
    assert len(events) == 4
    assert len({e["message"]["messageId"] for e in events}) == 4


def test_an_old_catalog_gains_no_dedup_header(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "catalog.db", isolation_level=None)
    db.executescript(OLD_SOURCES.format("allow_get INTEGER NOT NULL DEFAULT 0, "))
    db.execute("INSERT INTO sources VALUES ('src_1', 'ws', 'a', 'fn', 1, 'tok', '{}', '{}', "
               "NULL, 0, 0, 0, 1)")
    for _ in range(2):
        migrate.prepare(tmp_path / "catalog.db", automatic=True).dispose()
    assert db.execute("SELECT allow_get, dedup_header FROM sources").fetchall() == [(1, None)]
