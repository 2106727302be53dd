"""The retry policy end to end with a scaled clock (SPEC 8)."""

from __future__ import annotations

import random
import re
import time

import pytest

from runner.retries import MAX_WAIT, RetryPolicy
from runner.store import DATABASE_FILE
from tests.runner.harness import wait_until
from tests.stored import connect

ALWAYS_RETRY = '''
def on_request(request, settings):
    print("attempt")
    raise RetryError("upstream is down")
'''

# Fails twice, then succeeds: the count survives between invocations in the cache.
FLAKY = '''
def on_request(request, settings):
    count = cache.load("count", None, lambda: 0)
    cache.delete("count")
    cache.load("count", None, lambda: count + 1)
    if count < 2:
        raise RetryError(f"attempt {count}")
    Segment.track({"event": "Finally Worked", "userId": "u1", "properties": {"after": count}})
'''

# A scale of 0.0005 turns the first wait of 60-180 s into 30-90 ms.
FAST = ("--retry-time-scale", "0.0005")


def test_policy_waits() -> None:
    policy = RetryPolicy()
    first = policy.first_wait(random.Random(1))
    assert 60 <= first <= 180
    waits = [policy.wait(first, n) for n in range(1, 7)]
    assert waits[0] == first
    assert waits[1] == min(first * 2, MAX_WAIT)
    assert max(waits) == MAX_WAIT
    assert RetryPolicy(scale=0.5).wait(100, 2) == 100


def test_retries_exhausted_appear_in_the_errors_log(start_runner) -> None:
    runner = start_runner(ALWAYS_RETRY, *FAST)
    response = runner.post({"a": 1})
    assert response.status_code == 202
    assert response.json()["error"]["type"] == "Retry"
    # Not in the errors log while retries remain (read at once: the CLI takes a second
    # to start on a busy machine, and all seven attempts may be over by then).
    assert connect(runner.data_dir / DATABASE_FILE).execute(
        "SELECT COUNT(*) FROM errors").fetchone()[0] == 0
    entry = wait_until(lambda: runner.segfn("errors")["errors"], timeout=30)[0]
    assert entry["attempts"] == 7
    assert entry["error"]["type"] == "Retry"
    assert entry["logs"] == ["attempt"]
    retried = [x for x in runner.output if re.match(r"retry \d Retry", x)]
    assert len(retried) == 6
    assert retried[0].endswith("(will retry)")
    assert retried[-1].startswith("retry 6 Retry")
    assert retried[-1].endswith("(in segfn errors)")


def test_a_retry_that_succeeds_is_delivered_and_not_logged(start_runner) -> None:
    runner = start_runner(FLAKY, *FAST)
    assert runner.post({"a": 1}).status_code == 202
    events = wait_until(lambda: runner.segfn("events")["events"], timeout=30)
    assert events[0]["message"]["properties"] == {"after": 2}
    assert runner.segfn("errors")["errors"] == []


def test_retries_survive_a_restart_and_run_the_current_code(start_runner, tmp_path) -> None:
    # A long first wait, so the retry is still queued when the runner dies.
    runner = start_runner(ALWAYS_RETRY, "--retry-time-scale", "0.02")
    assert runner.post({"a": 1}).status_code == 202
    runner.kill()
    fixed = '''
def on_request(request, settings):
    Segment.track({"event": "Fixed", "userId": "u1", "properties": request.json()})
'''
    restarted = start_runner(fixed, "--retry-time-scale", "0.02", data_dir=runner.data_dir)
    events = wait_until(lambda: restarted.segfn("events")["events"], timeout=30)
    assert events[0]["message"]["event"] == "Fixed"
    assert events[0]["message"]["properties"] == {"a": 1}


@pytest.mark.parametrize("scale", ["0.0005"])
def test_timeouts_are_retried_too(start_runner, scale: str) -> None:
    runner = start_runner("def on_request(r, s):\n    while True:\n        pass\n",
                          "--timeout", "0.3", "--retry-time-scale", scale)
    started = time.monotonic()
    assert runner.post({}).json()["error"]["type"] == "Timeout"
    entry = wait_until(lambda: runner.segfn("errors")["errors"], timeout=60)[0]
    assert entry["error"]["type"] == "Timeout"
    assert entry["attempts"] == 7
    assert time.monotonic() - started >= 7 * 0.3
