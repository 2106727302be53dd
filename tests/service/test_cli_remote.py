"""The remote commands (login, functions, sources, deploy, rollback, test, tokens, errors)
as a user runs them: the real ``segfn`` executable against a real ``segfn serve``.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.service.keyring import generate_key
from tests.paths import PAYLOADS, ROOT
from tests.runner.harness import SEGFN, wait_until
from tests.service.harness import ISSUE, Cli, Serve, signed

GITHUB = ROOT / "examples" / "github.py"
VERSIONED = """
from segfn import Segment, ValidationError

def on_request(request, settings):
    body = request.json()
    if body.get("fail"):
        raise ValidationError("told to fail")
    Segment.track({"event": "Version " + str(VERSION), "userId": settings["user"]})
"""


def versioned(path: Path, number: int) -> Path:
    path.write_text(f"VERSION = {number}\n" + VERSIONED)
    return path


def user_schema(tmp_path: Path) -> Path:
    """The settings schema of VERSIONED."""
    path = tmp_path / "user-schema.json"
    path.write_text(json.dumps([{"label": "User"}]))
    return path


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    """One service for the module; each test names its functions and sources apart."""
    serve = Serve(tmp_path_factory.mktemp("serve"), ["--retry-time-scale", "0.001"],
                  {"SEGFN_SECRET_KEY": generate_key()}).start()
    yield serve
    serve.stop()


def events_of(serve: Serve, source: str, count: int) -> list[dict[str, Any]]:
    """The messages the source has stored, oldest first, once there are ``count``."""
    def stored() -> list[dict[str, Any]] | None:
        events = serve.api("GET", f"/sources/{source}/events").json()["events"]
        return [e["message"] for e in events] if len(events) >= count else None

    return wait_until(stored)


def test_login_checks_the_token_then_saves_it_for_the_owner_only(
        serve: Serve, tmp_path: Path) -> None:
    cli = Cli(tmp_path / "config")
    refused = cli("login", serve.url, "sfn_not-a-token", code=1)
    assert refused.stderr.startswith("error: Unauthorized: ")
    assert not (tmp_path / "config").exists()
    unreachable = cli("login", "http://127.0.0.1:9", serve.owner_token, code=1)
    assert "cannot reach http://127.0.0.1:9" in unreachable.stderr

    done = cli("login", serve.url + "api/v1/", serve.owner_token)
    assert "default" in done.stdout and "workspace_owner" in done.stdout
    credentials = tmp_path / "config" / "credentials.json"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert json.loads(credentials.read_text()) == {"url": serve.url.rstrip("/"),
                                                   "token": serve.owner_token}
    assert "functions" in cli.json("functions", "list")
    # --json prints whoami's answer.
    assert cli.json("login", serve.url, serve.owner_token)["workspace"]["name"] == "default"


def test_the_login_comes_from_the_environment_or_xdg_config_home(
        serve: Serve, tmp_path: Path) -> None:
    cli = Cli(tmp_path / "nothing-here")
    assert "run segfn login URL TOKEN first" in cli("functions", "list", code=1).stderr
    assert "functions" in cli.json("functions", "list", SEGFN_URL=serve.url,
                                   SEGFN_TOKEN=serve.owner_token)

    xdg = tmp_path / "xdg"
    clean = {k: v for k, v in os.environ.items() if k != "SEGFN_CONFIG_DIR"}
    subprocess.run([*SEGFN, "login", serve.url, "-"], input=serve.owner_token + "\n",
                   env={**clean, "XDG_CONFIG_HOME": str(xdg)}, check=True,
                   capture_output=True, text=True)
    assert json.loads((xdg / "segfn" / "credentials.json").read_text())["token"] == \
        serve.owner_token


def test_deploy_a_handler_then_two_sources_answer_by_their_own_settings(
        serve: Serve, cli: Cli, tmp_path: Path) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps([{"label": "Webhook Secret", "encrypted": True}]))
    created = cli("deploy", GITHUB, "--name", "github", "--settings-schema", schema)
    assert "created function github" in created.stdout
    again = cli.json("deploy", GITHUB, "--name", "github", "--settings-schema", schema)
    assert again["created"] is False and again["version"]["number"] == 1
    assert again["deployed"] == []

    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"webhookSecret": "s3cret-two"}))
    acme = cli("sources", "connect", "acme", "--function", "github",
               "--set", "webhookSecret=s3cret-one")
    globex = cli("sources", "connect", "globex", "--function", "github", "--settings", settings)
    acme_url = acme.stdout.splitlines()[-1]
    globex_url = globex.stdout.splitlines()[-1]
    assert acme_url.startswith(serve.url + "fn/") and globex_url != acme_url

    listed = {s["name"]: s for s in cli.json("sources", "list")["sources"]}
    assert listed["acme"]["webhook_url"] == acme_url
    assert listed["globex"]["secrets"] == {"webhookSecret": "set"}
    table = cli("sources", "list").stdout
    assert "webhookSecret: set" in table and "s3cret" not in table

    acme_source, globex_source = {"webhook_url": acme_url}, {"webhook_url": globex_url}
    assert serve.webhook(acme_source, **signed(ISSUE, "s3cret-one")).status_code == 200
    assert serve.webhook(globex_source, **signed(ISSUE, "s3cret-two")).status_code == 200
    refused = serve.webhook(globex_source, **signed(ISSUE, "s3cret-one"))
    assert refused.json()["ok"] is False
    assert [m["event"] for m in events_of(serve, "acme", 2) if m["type"] == "track"] == \
        ["Issue Opened"]
    shown = cli("events", "--source", "acme").stdout
    assert "Issue Opened" in shown and "identify" in shown
    assert [e["source"] for e in cli.json("events", "--source", "globex")["events"]] == [
        listed["globex"]["id"]] * 2


def test_new_versions_deploy_to_sources_and_rollback_moves_one_back(
        serve: Serve, cli: Cli, tmp_path: Path) -> None:
    handler = versioned(tmp_path / "versioned.py", 1)
    cli("deploy", handler, "--settings-schema", user_schema(tmp_path))
    cli("sources", "connect", "one", "--function", "versioned", "--set", "user=ada")
    cli("sources", "connect", "two", "--function", "versioned", "--set", "user=bob")

    versioned(handler, 2)
    saved = cli("deploy", handler, "--to", "all")
    assert "new version 2" in saved.stdout
    assert "source one now runs version 2" in saved.stdout
    assert "source two now runs version 2" in saved.stdout
    rolled = cli("rollback", "one", "1")
    assert "version 2 → 1" in rolled.stdout

    for name in ("one", "two"):
        serve.webhook(cli.json("sources", "show", name), {}).raise_for_status()
    assert events_of(serve, "one", 1)[-1]["event"] == "Version 1"
    assert events_of(serve, "two", 1)[-1]["event"] == "Version 2"
    assert events_of(serve, "one", 1)[-1]["userId"] == "ada"

    # A function deploys its latest version to all its sources when --to is omitted.
    deployed = cli.json("deploy", "versioned")["deployed"]
    assert sorted((s["name"], s["version"]) for s in deployed) == [("one", 2), ("two", 2)]
    assert [s["version"] for s in cli.json("deploy", "versioned", "--version", "1",
                                           "--to", "two")["deployed"]] == [1]

    versions = cli.json("functions", "versions", "versioned")["versions"]
    assert [v["number"] for v in versions] == [2, 1]
    assert cli("functions", "show", "versioned", "--version", "1").stdout == \
        f"VERSION = 1\n{VERSIONED}"
    assert "VERSION = 2" in cli("functions", "show", "versioned").stdout

    # A version whose schema the sources do not satisfy is saved, and moves no source.
    stricter = tmp_path / "stricter.json"
    stricter.write_text(json.dumps([{"label": "User"}, {"label": "Team", "required": True}]))
    refused = cli("deploy", versioned(handler, 3), "--settings-schema", stricter,
                  "--to", "one,two", code=1)
    assert "new version 3" in refused.stdout
    assert refused.stderr.startswith("error: InvalidConfiguration: ")
    assert {s["name"]: s["version"] for s in cli.json("sources", "list")["sources"]
            if s["name"] in ("one", "two")} == {"one": 2, "two": 1}
    cli("deploy", "versioned", "--name", "other", code=2)


def test_functions_create_update_and_delete(serve: Serve, cli: Cli, tmp_path: Path) -> None:
    handler = versioned(tmp_path / "handler.py", 1)
    created = cli.json("functions", "create", "crud", "--code", handler,
                       "--settings-schema", user_schema(tmp_path), "--description", "a test")
    assert created["function"]["description"] == "a test"
    assert "crud" in cli("functions", "list").stdout

    unchanged = cli("functions", "update", "crud", "--code", handler)
    assert "unchanged" in unchanged.stdout
    versioned(handler, 2)
    assert cli.json("functions", "update", "crud", "--code", handler)["created"] is True
    assert "new version 3" in cli("functions", "update", "crud", "--code",
                                  versioned(handler, 3)).stdout
    cli("functions", "update", "crud", code=2)  # nothing to change

    broken = tmp_path / "broken.py"
    broken.write_text("def on_request(request, settings)\n")
    assert "error: CompileError: " in cli("functions", "update", "crud", "--code", broken,
                                          code=1).stderr

    cli("sources", "connect", "crud-source", "--function", "crud", "--set", "user=x")
    assert "error: Conflict: " in cli("functions", "delete", "crud", code=1).stderr
    assert cli.json("functions", "delete", "crud", "--force") == {"ok": True}
    names = [f["name"] for f in cli.json("functions", "list")["functions"]]
    assert "crud" not in names
    assert "NotFound" in cli("sources", "show", "crud-source", code=1).stderr


def test_test_runs_a_payload_file_with_the_exit_codes_of_invoke(
        cli: Cli, tmp_path: Path) -> None:
    cli("deploy", versioned(tmp_path / "tested.py", 1), "--settings-schema",
        user_schema(tmp_path))
    payload = tmp_path / "payload.json"
    # Keys beside payload and settings are refused, as segfn invoke refuses them: such a
    # file is most likely a request body given where a payload file goes.
    payload.write_text(json.dumps({"payload": {"body": {"a": 1}}, "settings": {"user": "ada"},
                                   "comment": "ignored"}))
    assert "not a payload file: 'comment' at the top" in cli(
        "test", "tested", "--payload", payload, code=2).stderr
    payload.write_text(json.dumps({"payload": {"body": {"a": 1}}, "settings": {"user": "ada"}}))
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"user": "bob"}))

    shown = cli("test", "tested", "--payload", payload)
    assert "✓ ok" in shown.stdout and "Version 1" in shown.stdout
    answer = cli.json("test", "tested", "--payload", payload, "--settings", settings)
    assert answer["messages"][0]["userId"] == "bob"
    assert answer["logs_truncated"] is False

    failing = tmp_path / "failing.json"
    failing.write_text(json.dumps({"payload": {"body": {"fail": True}}}))
    failed = cli("test", "tested", "--payload", failing, code=1)
    assert "told to fail" in failed.stdout
    assert cli.json("test", "tested", "--payload", failing, code=1)["ok"] is False
    refused = cli("test", "no-such-function", "--payload", payload, code=2)
    assert refused.stderr.startswith("error: NotFound: ")
    cli("test", "tested", "--payload", payload, "--version", "9", code=2)

    cli("deploy", GITHUB, "--name", "github-tested")
    github = cli.json("test", "github-tested", "--payload",
                      PAYLOADS / "github" / "issue-opened.json")
    assert [m.get("event") for m in github["messages"]] == [None, "Issue Opened"]


def test_tokens_create_prints_a_working_secret_last(cli: Cli, tmp_path: Path) -> None:
    cli("functions", "create", "visible", "--code", versioned(tmp_path / "v.py", 1))
    cli("functions", "create", "hidden", "--code", versioned(tmp_path / "h.py", 1))
    created = cli("tokens", "create", "reader", "--role", "functions_read:visible")
    secret = created.stdout.splitlines()[-1]
    assert secret.startswith("sfn_")

    reader = Cli(tmp_path / "reader")
    env = {"SEGFN_URL": json.loads((cli.config_dir / "credentials.json").read_text())["url"],
           "SEGFN_TOKEN": secret}
    seen = [f["name"] for f in reader.json("functions", "list", **env)["functions"]]
    assert seen == ["visible"]
    assert reader("sources", "list", code=1, **env).stderr.startswith("error: Forbidden: ")

    listed = {t["name"]: t for t in cli.json("tokens", "list")["tokens"]}
    assert listed["reader"]["roles"][0]["role"] == "functions_read"
    assert "functions_read:visible" in cli("tokens", "list").stdout
    assert cli.json("tokens", "revoke", listed["reader"]["id"]) == {"ok": True}
    revoked = reader("functions", "list", code=1, **env)
    assert revoked.stderr.startswith("error: Unauthorized: ")
    assert "reader" not in cli("tokens", "list").stdout
    assert "reader" in cli("tokens", "list", "--all").stdout

    cli("tokens", "create", "x", "--role", "source_admin:visible", code=2)
    cli("tokens", "create", "x", "--role", "nobody", code=2)
    two = cli.json("tokens", "create", "two", "--role", "functions_admin:visible,hidden",
                   "--role", "source_admin")
    assert [g["role"] for g in two["token"]["roles"]] == ["functions_admin", "source_admin"]
    assert len(two["token"]["roles"][0]["functions"]) == 2


def test_sources_configure_pause_and_resume(serve: Serve, cli: Cli, tmp_path: Path) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps([{"label": "User", "required": True},
                                  {"label": "Count", "type": "number"}]))
    cli("functions", "create", "configured", "--code", versioned(tmp_path / "c.py", 1),
        "--settings-schema", schema)
    cli("sources", "connect", "configured", "--function", "configured", "--set", "user=ada")

    # --set is always a string; --set-json is any JSON value.
    refused = cli("sources", "configure", "configured", "--set", "count=3", code=1)
    assert refused.stderr.startswith("error: InvalidConfiguration: ")
    source = cli.json("sources", "configure", "configured", "--set-json", "count=3",
                      "--set", "user=bob", "--write-key", "wk")
    assert source["settings"] == {"user": "bob", "count": 3}
    assert source["write_key"] == "wk"
    source = cli.json("sources", "configure", "configured", "--unset", "count",
                      "--default-write-key")
    assert source["settings"] == {"user": "bob"} and source["write_key"] is None
    cli("sources", "configure", "configured", code=2)

    paused = cli("sources", "pause", "configured")
    assert "paused" in paused.stdout
    assert serve.webhook(source, {}).status_code == 503
    assert cli.json("sources", "resume", "configured")["paused"] is False
    assert serve.webhook(source, {}).status_code == 200
    assert cli.json("sources", "delete", "configured") == {"ok": True}
    assert serve.webhook(source, {}).status_code == 404


def test_errors_reads_the_services_errors_log(serve: Serve, cli: Cli, tmp_path: Path) -> None:
    cli("deploy", versioned(tmp_path / "erring.py", 1), "--settings-schema",
        user_schema(tmp_path))
    source = cli.json("sources", "connect", "erring", "--function", "erring",
                      "--set", "user=ada")
    assert "no errors" in cli("errors", "--source", "erring").stdout
    assert serve.webhook(source, {"fail": True}).json()["ok"] is False

    found = wait_until(lambda: cli.json("errors", "--source", "erring")["errors"])
    assert found[0]["error"]["type"] == "MessageRejected"
    assert found[0]["source"] == source["id"]
    by_function = cli.json("errors", "--function", "erring")
    assert [e["invocation_id"] for e in by_function["errors"]] == \
        [e["invocation_id"] for e in found]
    shown = cli("errors", "--source", "erring").stdout
    assert "MessageRejected" in shown and "told to fail" in shown
    cli("errors", "--source", "erring", "--function", "erring", code=2)
    assert "NotFound" in cli("errors", "--source", "nope", code=1).stderr
