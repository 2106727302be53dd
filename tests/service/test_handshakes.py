"""Verification handshakes through a real ``segfn serve``: a source's ``allow_get``, set
and unset with ``segfn sources connect|configure``, lets Meta's ``hub.challenge`` GET reach
its handler; Slack's challenge is answered over POST; an answer that would show an
encrypted setting is refused; an old catalog gains the column."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from runner.db import migrate
from runner.service.keyring import generate_key
from tests.db.test_migrations import OLD_SOURCES
from tests.paths import ROOT
from tests.service.harness import Cli, Serve

META_QUERY = {"hub.mode": "subscribe", "hub.challenge": "1158201444",
              "hub.verify_token": "meatyhamhock"}
ECHO_SECRET = '''
def on_request(request, settings):
    return respond(json={"token": settings["apiToken"]})
'''


@pytest.fixture
def serve(start_serve: Any) -> Serve:
    return start_serve(env={"SEGFN_SECRET_KEY": generate_key()})


@pytest.fixture
def cli(serve: Serve, tmp_path: Path) -> Iterator[Cli]:
    cli = Cli(tmp_path / "config")
    cli("login", serve.url, serve.owner_token)
    yield cli


def function(cli: Cli, tmp_path: Path, name: str, code: str, schema: list[Any]) -> None:
    code_path, schema_path = tmp_path / f"{name}.py", tmp_path / f"{name}.json"
    code_path.write_text(code)
    schema_path.write_text(json.dumps(schema))
    cli("functions", "create", name, "--code", code_path, "--settings-schema", schema_path)


def test_meta_verifies_with_a_get_only_while_the_source_allows_it(
        serve: Serve, cli: Cli, tmp_path: Path) -> None:
    function(cli, tmp_path, "meta", (ROOT / "examples" / "meta.py").read_text(),
             [{"label": "Verify Token", "encrypted": True, "required": True},
              {"label": "App Secret", "encrypted": True}])
    source = cli.json("sources", "connect", "whatsapp", "--function", "meta",
                      "--set", "verifyToken=meatyhamhock", "--allow-get")
    assert source["allow_get"] is True
    answer = httpx.get(source["webhook_url"], params=META_QUERY, timeout=15)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/plain; charset=utf-8"
    assert answer.text == "1158201444"
    wrong = httpx.get(source["webhook_url"], params={**META_QUERY, "hub.verify_token": "x"},
                      timeout=15)
    assert wrong.status_code == 400 and wrong.json()["error"]["type"] == "MessageRejected"
    assert "meatyhamhock" not in wrong.text
    shown = cli("sources", "show", "whatsapp").stdout
    assert "methods    POST, GET" in shown
    assert cli.json("sources", "configure", "whatsapp", "--no-allow-get")["allow_get"] is False
    refused = httpx.get(source["webhook_url"], params=META_QUERY, timeout=15)
    assert refused.status_code == 405 and refused.headers["allow"] == "POST"
    assert serve.api("GET", "/sources/whatsapp/events").json()["events"] == []


def test_slack_is_answered_and_a_secret_is_never_answered(
        serve: Serve, cli: Cli, tmp_path: Path) -> None:
    function(cli, tmp_path, "slack", (ROOT / "examples" / "slack_events.py").read_text(),
             [{"label": "Signing Secret", "encrypted": True}])
    slack = cli.json("sources", "connect", "slack", "--function", "slack")
    assert slack["allow_get"] is False
    answer = serve.webhook(slack, {"token": "Jhj5dZrVaK7ZwHHjRyZWjbDl", "challenge": "c-123",
                                   "type": "url_verification"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"challenge": "c-123"}
    assert httpx.get(slack["webhook_url"], timeout=15).status_code == 405
    function(cli, tmp_path, "echo", ECHO_SECRET, [{"label": "API Token", "encrypted": True}])
    echo = cli.json("sources", "connect", "echo", "--function", "echo",
                    "--set", "apiToken=tok-very-secret")
    leaked = serve.webhook(echo, {})
    assert leaked.status_code == 400, leaked.text
    assert leaked.json()["error"]["type"] == "BadRequest"
    assert "encrypted setting" in leaked.json()["error"]["message"]
    assert "tok-very-secret" not in leaked.text


def test_an_old_catalog_gains_allow_get_off(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "catalog.db", isolation_level=None)
    db.executescript(OLD_SOURCES.format(""))
    db.execute("INSERT INTO sources VALUES ('src_1', 'ws', 'a', 'fn', 1, 'tok', '{}', '{}', "
               "NULL, 0, 0, 0)")
    for _ in range(2):  # a second start finds nothing to do
        migrate.prepare(tmp_path / "catalog.db", automatic=True).dispose()
    assert db.execute("SELECT allow_get FROM sources").fetchall() == [(0,)]
