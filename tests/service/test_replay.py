"""Capture and replay through a real ``segfn serve`` and the CLI: a source keeps its
deliveries encrypted, and replaying them through a new version shows what it would change."""

from __future__ import annotations

import base64
import contextlib
from pathlib import Path
from typing import Any

import httpx

from runner.service.keyring import Keyring, generate_key
from runner.store import DATABASE_FILE
from tests.runner.test_capture_replay import V1, V2
from tests.service.harness import Cli, Serve
from tests.stored import connect

USERS = [("u1", "pro"), ("u2", "free"), ("u3", "team")]


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def test_a_new_version_replayed_on_captured_deliveries_shows_the_one_it_changes(
        start_serve: Any, tmp_path: Path) -> None:
    key = generate_key()
    serve: Serve = start_serve(env={"SEGFN_SECRET_KEY": key})
    ok(serve.api("POST", "/functions", json={"name": "signups", "code": V1}), 201)
    cli = Cli(tmp_path / "config")
    cli("login", serve.url, serve.owner_token)
    web = cli.json("sources", "connect", "web", "--function", "signups",
                   "--capture-days", "7")
    assert web["capture_days"] == 7
    for user, plan in USERS:
        answer = serve.webhook(web, {"user": user, "plan": plan},
                               headers={"Authorization": f"Bearer secret-{user}"})
        assert answer.status_code == 200, answer.text

    listed = cli.json("deliveries", "--source", "web")["deliveries"]
    assert [d["emitted"][0]["userId"] for d in listed] == ["u1", "u2", "u3"]
    assert ["authorization", "[redacted]"] in listed[0]["request"]["headers"]
    assert "secret-u1" not in str(listed)
    # At rest the request is encrypted with the service key: the exact bytes and headers
    # are in it, readable by nobody without the key.
    with contextlib.closing(connect(serve.data_dir / DATABASE_FILE)) as db:
        kept = [row[0] for row in db.execute("SELECT request FROM captures ORDER BY id")]
    for sealed, (user, plan) in zip(kept, USERS, strict=True):
        body = f'{{"user":"{user}","plan":"{plan}"}}'.encode()
        for plain in (base64.b64encode(body).decode()[:16], "Bearer", "authorization"):
            assert plain not in sealed
        opened = Keyring([key]).decrypt(sealed)
        assert base64.b64decode(opened["body"]) == body
        assert ["authorization", f"Bearer secret-{user}"] in opened["headers"]

    # Version 2 renames free plans: only u2's delivery changes.
    ok(serve.api("PATCH", "/functions/signups", json={"code": V2}))
    answer = cli.json("replay", "web", "--version", "2", code=1)
    assert {k: answer[k] for k in ("replayed", "same", "changed", "failed")} == {
        "replayed": 3, "same": 2, "changed": 1, "failed": 0}
    [diff] = answer["diffs"]
    assert diff["delivery"] == listed[1]["id"] and diff["error"] is None
    plans = [[m["traits"]["plan"] for m in diff[side] if m["type"] == "identify"]
             for side in ("before", "after")]
    assert plans == [["free"], ["starter"]]
    text = cli("replay", "web", "--version", "2", "--limit", "2", code=1).stdout
    assert '+      "plan": "starter"' in text
    assert text.rstrip().endswith("2 replayed: 1 same, 1 changed, 0 failed")
    assert cli.json("replay", "web", "--version", "1")["same"] == 3
    # The replays delivered and stored nothing: still the three deliveries' six events.
    events = ok(serve.api("GET", f"/sources/{web['id']}/events"))["events"]
    assert len(events) == 6
    cli("replay", "web", code=2)  # no --version

    # A deleted source's captures go with it; a key rotation seals the others again.
    other = cli.json("sources", "connect", "other", "--function", "signups",
                     "--capture-days", "1")
    assert serve.webhook(other, {"user": "u4", "plan": "pro"}).status_code == 200
    ok(serve.api("DELETE", f"/sources/{other['id']}"), 204)
    with contextlib.closing(connect(serve.data_dir / DATABASE_FILE)) as db:
        assert {row[0] for row in db.execute("SELECT source FROM captures")} == {web["id"]}
    assert serve.stop() == 0
    new = generate_key()
    rotated = cli("admin", "rotate-key", "--data-dir", serve.data_dir,
                  SEGFN_SECRET_KEY=f"{new},{key}").stdout
    assert "re-encrypted 3 captured deliver(ies)" in rotated
    with contextlib.closing(connect(serve.data_dir / DATABASE_FILE)) as db:
        resealed = [row[0] for row in db.execute("SELECT request FROM captures ORDER BY id")]
    assert [Keyring([new]).decrypt(r)["url"] for r in resealed] == [web["webhook_url"]] * 3


def test_a_service_without_a_secret_key_refuses_to_capture(start_serve: Any,
                                                            tmp_path: Path) -> None:
    serve: Serve = start_serve()
    ok(serve.api("POST", "/functions", json={"name": "signups", "code": V1}), 201)
    cli = Cli(tmp_path / "config")
    cli("login", serve.url, serve.owner_token)
    refused = cli("sources", "connect", "web", "--function", "signups",
                  "--capture-days", "7", code=1).stderr
    assert "no secret key, so it cannot keep captured deliveries" in refused
    assert "SEGFN_SECRET_KEY" in refused
    cli("sources", "connect", "web", "--function", "signups")
    refused = cli("sources", "configure", "web", "--capture-days", "1", code=1).stderr
    assert "no secret key" in refused
    answer = serve.api("GET", "/sources/web/deliveries")
    assert answer.status_code == 409 and "no secret key" in answer.text
