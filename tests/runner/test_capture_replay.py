"""Capture and replay with a diff, on ``segfn run``: a real runner keeps its deliveries,
then ``segfn replay`` runs them through a changed handler and says what differs."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from tests.runner.harness import wait_until
from tests.service.harness import Cli

V1 = """
def on_request(request, settings):
    body = request.json()
    Segment.identify({"userId": body["user"], "traits": {"plan": body["plan"]}})
    Segment.track({"event": "Signed Up", "userId": body["user"]})
"""
# The fix under test: free plans are now called "starter"; everything else is unchanged.
V2 = V1.replace('{"plan": body["plan"]}',
                '{"plan": "starter" if body["plan"] == "free" else body["plan"]}')
BROKEN = V1.replace('body["plan"]}', 'body["tier"]}')

BODIES = [b'{"user": "u1", "plan": "pro"}', b'{"user":"u2","plan":"free"}  \n',
          b'{"user": "u3", "plan": "team"}']


def _capture(start_runner: Any, tmp_path: Path) -> tuple[Any, Cli, list[str]]:
    runner = start_runner(V1, "--capture-days", "7")
    for body in BODIES:
        answer = runner.post(content=body, headers={"Content-Type": "application/json",
                                                    "X-Delivery": "d-" + body[10:12].decode()})
        assert answer.status_code == 200, answer.text
    data = ["--data-dir", str(runner.data_dir)]
    cli = Cli(tmp_path / "config")
    wait_until(lambda: len(cli.json("events", *data)["events"]) == 6)
    return runner, cli, data


def test_captured_deliveries_keep_the_exact_request_and_what_it_emitted(
        start_runner: Any, tmp_path: Path) -> None:
    runner, cli, data = _capture(start_runner, tmp_path)
    listed = cli.json("deliveries", *data)["deliveries"]
    assert [base64.b64decode(d["request"]["body"]) for d in listed] == BODIES
    assert [d["request"]["url"] for d in listed] == [runner.url] * 3
    assert ["x-delivery", "d-u1"] in listed[0]["request"]["headers"]
    events = cli.json("events", *data)["events"]
    for delivery in listed:
        stored = [e["message"] for e in events if e["invocation_id"] == delivery["invocation_id"]]
        assert delivery["emitted"] == stored and len(stored) == 2
        assert delivery["error"] is None
        assert 7 * 86400 - 5 < delivery["expires_at"] - delivery["at"] <= 7 * 86400
    assert len(cli.json("deliveries", "--limit", "2", *data)["deliveries"]) == 2
    assert len(cli.json("deliveries", "--since", "1h", *data)["deliveries"]) == 3
    assert cli.json("deliveries", "--since", "2099-01-01", *data)["deliveries"] == []
    wrong = cli("deliveries", "--since", "last week", *data, code=2).stderr
    assert "neither a time (2026-12-01T09:30) nor an age (7d, 12h, 30m)" in wrong
    text = cli("deliveries", *data).stdout
    assert f"#{listed[1]['id']}" in text and "POST" in text and "2 messages" in text


def test_replay_through_a_changed_handler_shows_only_the_delivery_that_changed(
        start_runner: Any, tmp_path: Path) -> None:
    _, cli, data = _capture(start_runner, tmp_path)
    listed = cli.json("deliveries", *data)["deliveries"]
    v2 = tmp_path / "v2.py"
    v2.write_text(V2)
    answer = cli.json("replay", "--handler", v2, *data, code=1)
    assert {k: answer[k] for k in ("replayed", "same", "changed", "failed")} == {
        "replayed": 3, "same": 2, "changed": 1, "failed": 0}
    [diff] = answer["diffs"]
    assert diff["delivery"] == listed[1]["id"] and diff["error"] is None
    assert [m["traits"]["plan"] for m in diff["before"] if m["type"] == "identify"] == ["free"]
    assert [m["traits"]["plan"] for m in diff["after"] if m["type"] == "identify"] == [
        "starter"]
    # Only what is compared is shown: no messageId, timestamp or context.library.
    for message in diff["before"] + diff["after"]:
        assert "messageId" not in message and "timestamp" not in message
        assert "library" not in message.get("context", {})
    # Nothing was delivered or stored by the replay.
    assert len(cli.json("events", *data)["events"]) == 6

    text = cli("replay", "--handler", v2, *data, code=1).stdout
    assert f"delivery #{listed[1]['id']}" in text
    assert '-      "plan": "free"' in text and '+      "plan": "starter"' in text
    assert text.rstrip().endswith("3 replayed: 2 same, 1 changed, 0 failed")


def test_replay_through_the_same_handler_is_all_same_and_a_broken_one_fails(
        start_runner: Any, tmp_path: Path) -> None:
    runner, cli, data = _capture(start_runner, tmp_path)
    same = cli.json("replay", "--handler", runner.handler, *data)
    assert (same["replayed"], same["same"], same["diffs"]) == (3, 3, [])
    broken = tmp_path / "broken.py"
    broken.write_text(BROKEN)
    failed = cli.json("replay", "--handler", broken, "--limit", "2", *data, code=1)
    assert (failed["replayed"], failed["failed"]) == (2, 2)
    assert [d["error"] for d in failed["diffs"]] == [
        {"type": "BadRequest", "message": "KeyError: 'tier'", "where": "broken.py:4"}] * 2
    # --limit takes the newest.
    assert [d["delivery"] for d in failed["diffs"]] == [
        d["id"] for d in cli.json("deliveries", *data)["deliveries"][1:]]
    assert all(d["after"] == [] and len(d["before"]) == 2 for d in failed["diffs"])


def test_a_runner_without_capture_days_keeps_no_delivery(start_runner: Any,
                                                         tmp_path: Path) -> None:
    runner = start_runner(V1)
    assert runner.post({"user": "u1", "plan": "pro"}).status_code == 200
    cli = Cli(tmp_path / "config")
    data = ["--data-dir", str(runner.data_dir)]
    wait_until(lambda: cli.json("events", *data)["events"])
    assert cli.json("deliveries", *data) == {"deliveries": []}
    assert "no captured deliveries" in cli("deliveries", *data).stdout
