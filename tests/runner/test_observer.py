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
from segfn.cli.output import InvocationLines, outcome_line
from segfn.sandbox.compiler import Handler
from segfn.sandbox.invocation import Result

SHOP = Source("src_2", "shop", Handler("def on_request(request, settings): pass"))
TRACK = {"type": "track", "event": "Order Completed", "userId": "u1"}


class Recorder(Observer):
    def __init__(self) -> None:
        self.heard: list[tuple[str, object]] = []

    def invoked(self, source: Source, outcome: Outcome) -> None:
        self.heard.append(("invoked", outcome.status))

    def refused(self, status: int) -> None:
        self.heard.append(("refused", status))

    def delivery_failed(self, reason: str) -> None:
        self.heard.append(("delivery_failed", reason))


def test_observers_tell_each_observer_in_order() -> None:
    first, second = Recorder(), Recorder()
    both = Observers([first, Observer(), second])
    both.invoked(SHOP, Outcome(200, Result(), "inv_1"))
    both.refused(429)
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
        InvocationLog().refused(413)  # refusals are counted, not logged as invocations
    [record] = caplog.records
    assert record.name == "segfn.invocations"
    assert record.getMessage() == "src_2 202 Retry 3.0 ms"
    assert record.__dict__["outcome"] is outcome
    assert record.__dict__["source"] is SHOP


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
