"""``segfn shadow``, and ``segfn deploy --shadow | --shadow-off``: a version that runs on a
source's live deliveries beside the live one, its output compared and discarded."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from segfn.cli.output import print_json, printable
from segfn.cli.remote import connect, json_option, part
from segfn.cli.replay import CHANGED, show_diffs


def start_shadow(function: str, version: int | None, source: str, as_json: bool) -> None:
    """Make ``source`` (which must run ``function``) shadow ``version`` (None: the
    function's latest)."""
    client = connect()
    if version is None:
        version = client.get(f"/functions/{part(function)}")["latest_version"]
    answer = client.put(f"/sources/{part(source)}/shadow",
                        {"version": version, "function": function})
    if as_json:
        print_json(answer)
        return
    name = click.style(printable(answer["name"]), bold=True)
    click.echo(click.style("✓ ", fg="green", bold=True)
               + f"source {name} shadows version {answer['shadow_version']}: its live "
                 f"deliveries also run it (live stays on version {answer['version']}), "
                 "compared and discarded")
    click.echo(click.style(f"  see how they compare: segfn shadow {source}", dim=True))


def end_shadow(function: str, source: str, as_json: bool) -> None:
    """End ``source``'s shadow, after checking it runs ``function``, and show its report."""
    client = connect()
    running = client.get(f"/sources/{part(source)}")["function"]
    if client.get(f"/functions/{part(function)}")["id"] != running:
        raise click.UsageError(f"source {source!r} runs another function than {function!r}")
    answer = client.delete(f"/sources/{part(source)}/shadow")
    if as_json:
        print_json(answer)
        return
    if answer["version"] is None:
        click.echo(f"source {printable(source)} had no shadow")
        return
    _show(answer)
    click.echo(click.style("✓ ", fg="green", bold=True) + "shadow ended")


@click.command("shadow", short_help="How a source's shadow deploy compares with live.")
@click.argument("source")
@json_option
@click.pass_context
def shadow_command(ctx: click.Context, source: str, as_json: bool) -> None:
    """How SOURCE's shadow deploy (segfn deploy FUNCTION --version N --shadow SOURCE) has
    compared with its live version: a diff for each of the newest deliveries that were not
    the same, then the counts.

    Each live delivery's first attempt also runs the shadow version, with the source's
    settings, after the live answer is given; what it emits is compared with what the live
    version emitted (messageId, timestamp and context.library aside), then discarded.

    With --json: {"source", "version" (null: no shadow), "since", "compared", "same",
    "changed", "failed", "skipped", "diffs": [{"delivery", "at", "before", "after",
    "error"}]}. Exits 0 when every delivery compared was the same, 1 when any changed or
    failed.
    """
    answer = connect().get(f"/sources/{part(source)}/shadow")
    if as_json:
        print_json(answer)
    elif answer["version"] is None:
        click.echo(f"source {printable(source)} has no shadow (start one with segfn deploy "
                   f"FUNCTION --version N --shadow {printable(source)})")
    else:
        _show(answer)
    ctx.exit(CHANGED if answer["changed"] or answer["failed"] else 0)


def _show(answer: dict[str, Any]) -> None:
    show_diffs(answer["diffs"])
    since = ("" if answer["since"] is None else " since "
             + datetime.fromtimestamp(answer["since"]).strftime("%Y-%m-%d %H:%M:%S"))
    summary = (f"version {answer['version']}{since}: {answer['compared']} compared, "
               f"{answer['same']} same, {answer['changed']} changed, "
               f"{answer['failed']} failed")
    if answer["skipped"]:
        summary += f"; {answer['skipped']} not shadowed (too many at once)"
    click.secho(summary, bold=True,
                fg="green" if answer["compared"] == answer["same"] else "yellow")
