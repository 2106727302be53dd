"""Shadow deploys through a real ``segfn serve`` and the CLI: live deliveries also run
another version, which is compared and discarded, and never changes or delays the live
answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.runner.harness import wait_until
from tests.runner.test_capture_replay import V1, V2
from tests.service.harness import Cli, Serve

USERS = [("u1", "pro"), ("u2", "free"), ("u3", "team")]
# Fails on team plans (a KeyError: BadRequest) and hangs on pro ones until killed.
TROUBLED = V1.replace('    body = request.json()\n', '''    body = request.json()
    if body["plan"] == "team":
        body["seats"]
    while body["plan"] == "pro":
        pass
''')


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def _service(start_serve: Any, tmp_path: Path, *args: str) -> tuple[Serve, Cli, Any]:
    serve: Serve = start_serve(*args)
    ok(serve.api("POST", "/functions", json={"name": "signups", "code": V1}), 201)
    cli = Cli(tmp_path / "config")
    cli("login", serve.url, serve.owner_token)
    return serve, cli, cli.json("sources", "connect", "web", "--function", "signups")


def _compared(serve: Serve, source: dict[str, Any]) -> int:
    compared: int = ok(serve.api("GET", f"/sources/{source['id']}/shadow"))["compared"]
    return compared


def _send(serve: Serve, source: dict[str, Any]) -> list[str]:
    """The three users' deliveries, answered; their invocation ids."""
    for user, plan in USERS:
        answer = serve.webhook(source, {"user": user, "plan": plan})
        assert answer.status_code == 200 and answer.json() == {"ok": True}, answer.text
    events = ok(serve.api("GET", f"/sources/{source['id']}/events"))["events"]
    return list(dict.fromkeys(e["invocation_id"] for e in events))


def test_a_shadow_that_differs_on_some_deliveries_shows_those_and_counts_the_rest(
        start_serve: Any, tmp_path: Path) -> None:
    serve, cli, web = _service(start_serve, tmp_path)
    ok(serve.api("PATCH", "/functions/signups", json={"code": V2}))
    started = cli.json("deploy", "signups", "--version", "2", "--shadow", "web")
    assert (started["version"], started["shadow_version"]) == (1, 2)
    assert cli.json("shadow", "web")["version"] == 2

    invocations = _send(serve, web)
    wait_until(lambda: _compared(serve, web) == 3)
    report = cli.json("shadow", "web", code=1)
    assert {k: report[k] for k in ("same", "changed", "failed", "skipped")} == {
        "same": 2, "changed": 1, "failed": 0, "skipped": 0}
    [diff] = report["diffs"]
    assert diff["delivery"] == invocations[1] and diff["error"] is None
    plans = [[m["traits"]["plan"] for m in diff[side] if m["type"] == "identify"]
             for side in ("before", "after")]
    assert plans == [["free"], ["starter"]]
    assert all("messageId" not in m for m in diff["before"] + diff["after"])
    # The live version's output alone was stored: plan "free", six events, no more.
    events = ok(serve.api("GET", f"/sources/{web['id']}/events"))["events"]
    assert len(events) == 6
    assert [e["message"]["traits"]["plan"] for e in events
            if e["message"]["type"] == "identify"] == ["pro", "free", "team"]
    text = cli("shadow", "web", code=1).stdout
    assert f"delivery {invocations[1]}" in text and '+      "plan": "starter"' in text
    assert "version 2 since " in text and "3 compared, 2 same, 1 changed, 0 failed" in text

    # A shadow runs in workers of its own, never in those live deliveries wait for.
    workers = httpx.get(serve.url + "healthz", timeout=10).json()["workers"]
    assert {w["shadow"] for w in workers} == {True, False}
    ended = cli.json("deploy", "signups", "--shadow-off", "web")
    assert (ended["version"], ended["compared"]) == (2, 3)
    assert cli.json("shadow", "web", code=0)["version"] is None
    assert "has no shadow" in cli("shadow", "web").stdout
    assert serve.webhook(web, {"user": "u4", "plan": "free"}).status_code == 200
    assert ok(serve.api("GET", f"/sources/{web['id']}"))["shadow_version"] is None

    # Shadowing again starts counting afresh.
    cli.json("deploy", "signups", "--version", "2", "--shadow", "web")
    assert cli.json("shadow", "web")["compared"] == 0


def test_a_shadow_that_fails_or_hangs_never_changes_or_delays_the_live_answer(
        start_serve: Any, tmp_path: Path) -> None:
    serve, cli, web = _service(start_serve, tmp_path, "--timeout", "2")
    ok(serve.api("PATCH", "/functions/signups", json={"code": TROUBLED}))
    cli.json("deploy", "signups", "--version", "2", "--shadow", "web")
    # u1's shadow hangs until its timeout: every live answer came before it ended.
    _send(serve, web)
    assert _compared(serve, web) < 3
    wait_until(lambda: _compared(serve, web) == 3, timeout=30)
    report = cli.json("shadow", "web", code=1)
    assert (report["same"], report["changed"], report["failed"]) == (1, 0, 2)
    errors = {d["error"]["type"] for d in report["diffs"]}
    assert errors == {"Timeout", "BadRequest"}  # a KeyError is a BadRequest (SPEC)
    assert all(d["after"] == [] and len(d["before"]) == 2 for d in report["diffs"])
    # Nothing of the shadow's reached the errors log or the retry queue.
    assert ok(serve.api("GET", f"/sources/{web['id']}/errors"))["errors"] == []


def test_a_shadow_is_refused_when_its_version_cannot_run_the_source(
        start_serve: Any, tmp_path: Path) -> None:
    serve, cli, web = _service(start_serve, tmp_path)
    schema = [{"label": "API Key", "type": "string", "required": True}]
    ok(serve.api("PATCH", "/functions/signups", json={"code": V2, "settings_schema": schema}))
    refused = cli("deploy", "signups", "--version", "2", "--shadow", "web", code=1).stderr
    assert "version 2 cannot run source web as it is configured" in refused
    assert "apiKey" in refused
    ok(serve.api("POST", "/functions", json={"name": "other", "code": V1}), 201)
    refused = cli("deploy", "other", "--shadow", "web", code=1).stderr
    assert "source web runs another function" in refused
    usage = cli("deploy", "signups", "--shadow", "web", "--to", "web", code=2).stderr
    assert "--shadow SOURCE and --shadow-off SOURCE each go alone" in usage
    assert ok(serve.api("GET", f"/sources/{web['id']}"))["shadow_version"] is None
    answer = serve.api("PUT", f"/sources/{web['id']}/shadow", json={"version": 9})
    assert answer.status_code == 404, answer.text
