"""Redrive of ``segfn run``'s data dir: the CLI queues the work and the runner does it, the
one running now or the next one to start."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tests.runner.destination import FaultyDestination
from tests.runner.harness import BROKEN, FIXED, TRACK, wait_until
from tests.service.harness import Cli


def test_the_running_runner_runs_failed_invocations_again_with_the_fixed_handler(
        start_runner: Any, tmp_path: Path) -> None:
    runner = start_runner(BROKEN, "--reload")
    data = ["--data-dir", str(runner.data_dir)]
    for user in ("u1", "u2"):
        assert runner.post({"user": user}, headers={"X-Api-Token": f"tok-{user}"}
                           ).status_code == 400
    cli = Cli(tmp_path / "config")
    logged = cli.json("errors", *data)["errors"]
    assert [e["retryable"] for e in logged] == [True, True]
    assert ["x-api-token", "[redacted]"] in logged[0]["request"]["headers"]

    # The fix: the runner reloads the file; the CLI queues every entry for it.
    runner.handler.write_text(FIXED)
    stamp = runner.handler.stat().st_mtime + 1
    os.utime(runner.handler, (stamp, stamp))
    wait_until(lambda: any("reloaded" in line for line in runner.output))
    text = cli("errors", "retry", str(logged[1]["id"]), str(logged[0]["id"]), *data).stdout
    assert "queued 2 to run again: the running segfn run runs them within a second" in text
    stored = wait_until(lambda: len(events := cli.json("events", *data)["events"]) == 2
                        and events)
    assert sorted((e["message"]["userId"], e["message"]["properties"]["token"])
                  for e in stored) == [("u1", "tok-u1"), ("u2", "tok-u2")]
    # Each ran as the invocation that had failed, one attempt more.
    assert sorted(e["invocation_id"] for e in stored) == sorted(
        e["invocation_id"] for e in logged)
    assert cli.json("errors", *data)["errors"] == []


def test_dead_letters_resent_with_no_runner_running_leave_with_the_next_start(
        start_runner: Any, destination: FaultyDestination, tmp_path: Path) -> None:
    destination.refuse_message = lambda m: m["type"] == "track"
    args = ("--segment-endpoint", destination.url, "--write-key", "wk-local")
    runner = start_runner(TRACK, *args)
    data = ["--data-dir", str(runner.data_dir)]
    assert runner.post({}).status_code == 200
    cli = Cli(tmp_path / "config")
    [letter] = wait_until(lambda: cli.json("dead-letters", *data)["dead_letters"])
    assert runner.stop() == 0

    destination.refuse_message = None
    text = cli("dead-letters", "resend", "--all", *data).stdout
    assert f"no segfn run is running on {runner.data_dir}: they wait for its next start" in text
    assert cli.json("dead-letters", "list", *data)["dead_letters"] == []
    assert not [m for m in destination.taken if m["type"] == "track"]
    start_runner(TRACK, *args, data_dir=runner.data_dir)
    track = wait_until(lambda: [m for m in destination.taken if m["type"] == "track"])
    assert [m["messageId"] for m in track] == [letter["batch"]["batch"][0]["messageId"]]
    assert {r.write_key for r in destination.received} == {"wk-local"}
    # Asking for one that is not there any more: said so, exit 1.
    missing = cli("dead-letters", "resend", str(letter["id"]), *data, code=1)
    assert f"#{letter['id']}: no such entry" in missing.stderr
