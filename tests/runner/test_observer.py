"""One observer interface: fan-out, and the CLI's line for each invocation and refusal."""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Callable

import click
import pytest
from click.testing import CliRunner

from runner.observer import Observer, Observers
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


def lines_of(calls: Callable[[InvocationLines], None], logs: bool) -> list[str]:
    """What ``InvocationLines(logs)`` prints for ``calls`` made in one turn of an event loop,
    in a click command, as ``segfn run`` makes them."""
    lines = InvocationLines(logs)

    async def turn() -> None:
        calls(lines)

    @click.command()
    def emit() -> None:
        asyncio.run(turn())

    return CliRunner().invoke(emit).output.splitlines()


def invoked(outcome: Outcome) -> Callable[[InvocationLines], None]:
    return lambda lines: lines.invoked(SHOP, outcome)


def test_the_cli_writes_each_invocation_as_its_line() -> None:
    outcome = Outcome(200, Result(messages=[TRACK], duration_ms=1.5), "inv_3")
    [line] = lines_of(invoked(outcome), logs=False)
    assert line == click.unstyle(outcome_line(SHOP, outcome))
    assert line.startswith("200 src_2 ok  1.5 ms") and "Order Completed" in line


class Stdout(io.StringIO):
    """A stdout that counts its writes and flushes."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = self.flushes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)

    def flush(self) -> None:
        self.flushes += 1


def test_the_lines_of_one_turn_leave_in_one_write_once_it_ends(
        monkeypatch: pytest.MonkeyPatch) -> None:
    stdout = Stdout()
    monkeypatch.setattr(sys, "stdout", stdout)
    lines = InvocationLines()
    outcome = Outcome(200, Result(duration_ms=1.0), "inv_6")

    async def burst() -> None:
        for _ in range(50):
            lines.invoked(SHOP, outcome)
        lines.refused(429, "RateLimited", "this source is over its rate limit")
        assert stdout.getvalue() == ""  # nothing made or written before the turn ends
        await asyncio.sleep(0)

    asyncio.run(burst())
    assert (stdout.writes, stdout.flushes) == (1, 1)
    written = stdout.getvalue().splitlines()
    assert written[:50] == [outcome_line(SHOP, outcome, styled=False)] * 50
    assert written[50].startswith("429 RateLimited")


def test_without_an_event_loop_a_line_is_written_at_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    stdout = Stdout()
    monkeypatch.setattr(sys, "stdout", stdout)
    InvocationLines().refused(404, "NotFound", "no webhook at /x")
    assert stdout.getvalue() == "404 NotFound  no webhook at /x  (refused, nothing ran)\n"


def test_a_closed_stdout_fails_no_delivery(monkeypatch: pytest.MonkeyPatch) -> None:
    stdout = Stdout()
    stdout.close()
    monkeypatch.setattr(sys, "stdout", stdout)
    InvocationLines().invoked(SHOP, Outcome(200, Result(), "inv_7"))  # does not raise


def test_an_invocations_log_lines_go_under_its_line_capped() -> None:
    logs = ["first", "tab\there \x1b[2J"] + [f"line {n}" for n in range(3, 31)]
    outcome = Outcome(400, Result.failed(errors.BAD_REQUEST, "KeyError: 'x'", logs), "inv_4")
    line, *rest = lines_of(invoked(outcome), logs=True)
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
    assert lines_of(invoked(outcome), logs=False) == [
        click.unstyle(outcome_line(SHOP, outcome))]


def test_a_refusal_is_a_line_of_its_own() -> None:
    [line] = lines_of(lambda lines: lines.refused(415, "UnsupportedMediaType",
                                                  "expected application/json"), logs=True)
    assert line == "415 UnsupportedMediaType  expected application/json  (refused, nothing ran)"
