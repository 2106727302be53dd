"""One observer interface: fan-out, the invocation log records, and the CLI's line."""

from __future__ import annotations

import logging

import click
import pytest
from click.testing import CliRunner

from runner.observer import InvocationLog, Observer, Observers
from runner.runtime import Outcome
from runner.source import Source
from segfn import errors
from segfn.cli.output import LOG_LINES, InvocationLines, log_lines, outcome_line
from segfn.sandbox.compiler import Handler
from segfn.sandbox.invocation import Result

SHOP = Source("src_2", "shop", Handler("def on_request(request, settings): pass"))
TRACK = {"type": "track", "event": "Order Completed", "userId": "u1"}


class Recorder(Observer):
    def __init__(self) -> None:
        self.heard: list[tuple[str, object]] = []

    def invoked(self, source: Source, outcome: Outcome) -> None:
        self.heard.append(("invoked", outcome.status))

    def refused(self, status: int, error_type: str, message: str) -> None:
        self.heard.append(("refused", status))

    def delivery_failed(self, reason: str) -> None:
        self.heard.append(("delivery_failed", reason))


def test_observers_tell_each_observer_in_order() -> None:
    first, second = Recorder(), Recorder()
    both = Observers([first, Observer(), second])
    both.invoked(SHOP, Outcome(200, Result(), "inv_1"))
    both.refused(429, "RateLimited", "this source is over its rate limit")
    both.delivery_failed("network")
    expected = [("invoked", 200), ("refused", 429), ("delivery_failed", "network")]
    assert first.heard == expected
    assert second.heard == expected


def test_each_invocation_is_a_record_of_segfn_invocations(
        caplog: pytest.LogCaptureFixture) -> None:
    outcome = Outcome(202, Result.failed(errors.RETRY, "later", duration_ms=3.0), "inv_2",
                      attempt=1, retry_queued=True)
    with caplog.at_level(logging.INFO, logger="segfn.invocations"):
        InvocationLog().invoked(SHOP, outcome)
        InvocationLog().refused(413, "PayloadTooLarge", "the body is over 524288 bytes")
    record, refusal = caplog.records
    assert record.name == refusal.name == "segfn.invocations"
    assert record.getMessage() == "src_2 202 Retry 3.0 ms"
    assert record.__dict__["outcome"] is outcome
    assert record.__dict__["source"] is SHOP
    assert refusal.getMessage() == "413 PayloadTooLarge  the body is over 524288 bytes"
    assert "outcome" not in refusal.__dict__ and refusal.__dict__["status"] == 413


def test_the_cli_writes_the_record_as_its_line() -> None:
    outcome = Outcome(200, Result(messages=[TRACK], duration_ms=1.5), "inv_3")
    log = logging.getLogger("test.segfn.invocations")
    log.propagate = False
    log.setLevel(logging.INFO)
    handler = InvocationLines()
    log.addHandler(handler)

    @click.command()
    def emit() -> None:
        log.info("plain", extra={"source": SHOP, "outcome": outcome})
        log.info("no outcome \x1b[2J here")

    try:
        output = CliRunner().invoke(emit).output
    finally:
        log.removeHandler(handler)
    line, plain = output.splitlines()
    assert line == click.unstyle(outcome_line(SHOP, outcome))
    assert line.startswith("200 src_2 ok  1.5 ms") and "Order Completed" in line
    assert plain == "no outcome \\x1b[2J here"


def lines_of(records: list[tuple[str, dict[str, object]]], logs: bool) -> list[str]:
    log = logging.getLogger("test.segfn.invocations.lines")
    log.propagate = False
    log.setLevel(logging.INFO)
    handler = InvocationLines(logs)
    log.addHandler(handler)

    @click.command()
    def emit() -> None:
        for message, extra in records:
            log.info(message, extra=extra)

    try:
        return CliRunner().invoke(emit).output.splitlines()
    finally:
        log.removeHandler(handler)


def test_an_invocations_log_lines_go_under_its_line_capped() -> None:
    logs = ["first", "tab\there \x1b[2J"] + [f"line {n}" for n in range(3, 31)]
    outcome = Outcome(400, Result.failed(errors.BAD_REQUEST, "KeyError: 'x'", logs), "inv_4")
    line, *rest = lines_of([("x", {"source": SHOP, "outcome": outcome})], logs=True)
    assert line.startswith("400 src_2 BadRequest")
    assert rest[:2] == ["  │ first", "  │ tab\there \\x1b[2J"]
    assert len(rest) == LOG_LINES + 1 and rest[LOG_LINES - 1] == f"  │ line {LOG_LINES}"
    assert rest[-1] == f"  … {30 - LOG_LINES} more log lines not shown"


def test_log_lines_are_capped_by_size_too() -> None:
    logs = ["x" * 3000, "y" * 3000]
    assert [click.unstyle(line) for line in log_lines(logs)] == [
        "  │ " + "x" * 3000, "  … 1 more log line not shown"]


def test_without_logs_only_the_line_is_written() -> None:
    outcome = Outcome(200, Result(logs=["hello"], duration_ms=1.0), "inv_5")
    assert lines_of([("x", {"source": SHOP, "outcome": outcome})], logs=False) == [
        click.unstyle(outcome_line(SHOP, outcome))]


def test_a_refusal_is_a_line_of_its_own() -> None:
    [line] = lines_of([("r", {"status": 415, "error_type": "UnsupportedMediaType",
                              "reason": "expected application/json"})], logs=True)
    assert line == "415 UnsupportedMediaType  expected application/json  (refused, nothing ran)"
