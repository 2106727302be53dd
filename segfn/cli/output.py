"""How the CLI shows results: colored and readable on a terminal, JSON with ``--json``."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from segfn.invocation import Result

_LOG_PREVIEW_BYTES = 4096


def print_json(document: Any) -> None:
    click.echo(json.dumps(document, ensure_ascii=False))


def fail(message: str) -> None:
    """Say why the command stopped, on stderr."""
    click.secho(f"error: {message}", fg="red", err=True)


def _who(message: dict[str, Any]) -> str:
    for key in ("userId", "anonymousId"):
        if key in message:
            return f"{key}={message[key]}"
    return ""


def describe_message(message: dict[str, Any]) -> str:
    """One line for a message: its type, what it is about, who."""
    kind = message["type"]
    subject = {
        "track": message.get("event"),
        "page": message.get("name"),
        "screen": message.get("name"),
        "group": f"groupId={message.get('groupId')}",
        "alias": f"previousId={message.get('previousId')}",
    }.get(kind) or ""
    return "  ".join(part for part in (click.style(f"{kind:<9}", fg="cyan"),
                                       click.style(subject, bold=True), _who(message)) if part)


def show_result(result: Result, name: str) -> None:
    """The readable summary of one invocation."""
    if result.ok:
        click.echo(click.style("✓ ok", fg="green", bold=True)
                   + f"  {name}  {result.duration_ms:.1f} ms")
    else:
        assert result.error is not None
        click.echo(click.style(f"✗ {result.error.type}", fg="red", bold=True)
                   + f"  {name}  {result.duration_ms:.1f} ms")
        click.echo("  " + result.error.message)
    for message in result.messages:
        click.echo("  " + describe_message(message))
    for obj in result.objects:
        click.echo("  " + click.style(f"{'set':<9}", fg="cyan")
                   + f"  {obj['collection']}/{obj['id']}  "
                   + json.dumps(obj["properties"], ensure_ascii=False)[:80])
    if result.logs:
        click.echo(click.style("logs", dim=True))
        shown = 0
        for line in result.logs:
            if shown + len(line) > _LOG_PREVIEW_BYTES:
                click.echo(click.style("  … (more logs; --json shows all)", dim=True))
                break
            shown += len(line)
            click.echo("  " + line)
    sys.stdout.flush()
