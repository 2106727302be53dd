"""How the CLI shows results: colored and readable on a terminal, JSON with ``--json``.

Colors follow click's rule: on when stdout is a terminal, off when it is a pipe or a file
(click strips the escape codes), unless the command's context says otherwise
(``--color/--no-color``).
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import click

from runner.observer import Observer
from segfn.sandbox.invocation import Result, preview_logs

if TYPE_CHECKING:
    # Only for annotations: the runner brings aiohttp, which segfn invoke does without.
    from runner.runtime import Outcome
    from runner.source import Source

# C0/C1 control characters but tab: a handler's text must not move the cursor, clear the
# screen or fake colors on the reader's terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def print_json(document: Any) -> None:
    click.echo(json.dumps(document, ensure_ascii=False))


def fail(message: str) -> None:
    """Say why the command stopped, on stderr."""
    click.secho(f"error: {printable(message)}", fg="red", err=True)


def printable(text: str) -> str:
    """``text`` with control characters shown as escapes, safe to write to a terminal."""
    if text.isprintable():
        # Every character _CONTROL matches is unprintable: the C check spares the search.
        return text
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def _who(message: dict[str, Any]) -> str:
    for key in ("userId", "anonymousId"):
        if key in message:
            return f"{key}={printable(str(message[key]))}"
    return ""


def _style(text: str, styled: bool, **styles: Any) -> str:
    # Unstyled text made as such: styling it to strip the codes again costs twice.
    return click.style(text, **styles) if styled else text


def _subject(message: dict[str, Any]) -> str:
    """What a message is about: a track's event, a page's name, a group's id..."""
    kind = message["type"]
    if kind == "track":
        return str(message.get("event") or "")
    if kind in ("page", "screen"):
        return str(message.get("name") or "")
    if kind == "group":
        return f"groupId={message.get('groupId')}"
    if kind == "alias":
        return f"previousId={message.get('previousId')}"
    return ""


def describe_message(message: dict[str, Any], styled: bool = True) -> str:
    """One line for a message: its type, what it is about, who (in colors if ``styled``)."""
    # A line a delivery, so made in as few steps as it takes: 1 us where it was 2.
    subject, who = _subject(message), _who(message)
    line = _style(f"{message['type']:<9}", styled, fg="cyan")
    if subject:
        line += "  " + _style(printable(subject), styled, bold=True)
    return line + "  " + who if who else line


def show_result(result: Result, name: str) -> None:
    """The readable summary of one invocation."""
    if result.ok:
        click.echo(click.style("✓ ok", fg="green", bold=True)
                   + f"  {name}  {result.duration_ms:.1f} ms")
    else:
        assert result.error is not None
        click.echo(click.style(f"✗ {result.error.type}", fg="red", bold=True)
                   + f"  {name}  {result.duration_ms:.1f} ms")
        click.echo("  " + printable(result.error.located))
    if result.reply is not None:
        click.echo("  " + click.style(f"{'respond':<9}", fg="cyan")
                   + f"  200 {result.reply.content_type}  {printable(result.reply.body)}")
    for message in result.messages:
        click.echo("  " + describe_message(message))
    for obj in result.objects:
        click.echo("  " + click.style(f"{'set':<9}", fg="cyan")
                   + f"  {printable(obj['collection'])}/{printable(str(obj['id']))}  "
                   + printable(json.dumps(obj["properties"], ensure_ascii=False)[:80]))
    if result.logs:
        click.echo(click.style("logs", dim=True))
        shown, truncated = preview_logs(result.logs)
        for line in shown:
            click.echo("  " + printable(line))
        if truncated:
            click.echo(click.style("  … (more logs; --json shows all)", dim=True))
    sys.stdout.flush()


def outcome_line(source: Source, outcome: Outcome, styled: bool = True) -> str:
    """One line an invocation: answer or retry number, the source when there are several
    (by name: workspace/source),
    error, time, what was emitted (in colors if ``styled``)."""
    result = outcome.result
    color = "green" if result.ok else "yellow" if outcome.retry_queued else "red"
    head = f"retry {outcome.attempt}" if outcome.attempt else str(outcome.status)
    line = _style(head, styled, fg=color, bold=True)
    if source.id != "default":
        names = source.names
        # A workspace's names are its own: two workspaces may each have a "prod".
        where = f"{names.workspace}/{names.source}" if names.workspace else names.source
        line += f" {printable(where)}"
    line += f" {result.error.type if result.error else 'ok'}  {result.duration_ms:.1f} ms"
    if result.error:
        line += f"  {printable(result.error.located)}"
        line += "  (will retry)" if outcome.retry_queued else "  (in segfn errors)"
    emitted = [describe_message(m, styled) for m in result.messages]
    emitted += [f"set {printable(o['collection'])}/{printable(str(o['id']))}"
                for o in result.objects]
    return line + ("  " + "; ".join(emitted) if emitted else "")


# Under each invocation's line, at most this many of its log lines (and LOG_PREVIEW_BYTES).
LOG_LINES = 20


def log_lines(logs: Sequence[str], styled: bool = True) -> list[str]:
    """An invocation's log lines as shown under its line: indented, capped, with a note
    saying how many were left out (in colors if ``styled``)."""
    shown, _ = preview_logs(logs[:LOG_LINES])
    lines = ["  " + _style("│ ", styled, dim=True) + printable(line) for line in shown]
    if len(shown) < len(logs):
        more = len(logs) - len(shown)
        lines.append(_style(f"  … {more} more log line{'s' * (more > 1)} not shown",
                            styled, dim=True))
    return lines


def refusal_line(status: int, error_type: str, reason: str, styled: bool = True) -> str:
    """One line a delivery refused before any handler ran: the answer's status and error
    (in colors if ``styled``)."""
    return (_style(str(status), styled, fg="red", bold=True)
            + f" {printable(error_type)}  {printable(reason)}  (refused, nothing ran)")


class InvocationLines(Observer):
    """The runtime's observer that prints a line on stdout for each invocation (its
    ``outcome_line``, with its log lines under it when ``logs``) and each refusal (its
    ``refusal_line``), colored on a terminal.

    Lines are made and written once a turn of the event loop, all in one write and one
    flush: under load a write and a flush a line were each a system call a request, and
    making lines one by one, through ``logging``, a tenth of the runner's CPU."""

    def __init__(self, logs: bool = False) -> None:
        self.logs = logs
        # Whether the stream last written to is a terminal: asked once, not once a line.
        self._terminal: tuple[Any, bool] | None = None
        self._lines: list[Callable[[bool], str]] = []

    def invoked(self, source: Source, outcome: Outcome) -> None:
        self._later(functools.partial(self._invocation, source, outcome))

    def refused(self, status: int, error_type: str, message: str) -> None:
        self._later(functools.partial(refusal_line, status, error_type, message))

    def _invocation(self, source: Source, outcome: Outcome, color: bool) -> str:
        line = outcome_line(source, outcome, color)
        if not self.logs:
            return line
        return "\n".join([line, *log_lines(outcome.result.logs, color)])

    def _later(self, line: Callable[[bool], str]) -> None:
        self._lines.append(line)
        if len(self._lines) == 1:
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:
                self.flush()

    def flush(self) -> None:
        """Write the lines made since the last flush."""
        lines, self._lines = self._lines, []
        stream = sys.stdout
        try:
            # Made without colors when there are none (the common case: no terminal).
            color = self._colored(stream)
            stream.write("".join(line(color) + "\n" for line in lines))
            stream.flush()
        except (OSError, ValueError):
            # A closed stdout loses its lines; no delivery fails for it.
            pass

    def _colored(self, stream: Any) -> bool:
        """Whether lines are colored, as ``click.echo`` decides: as the context says, else
        on a terminal."""
        color = click.globals.resolve_color_default()
        if color is None:
            if self._terminal is None or self._terminal[0] is not stream:
                self._terminal = (stream, stream.isatty())
            color = self._terminal[1]
        return bool(color)
