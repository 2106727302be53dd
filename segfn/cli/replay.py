"""``segfn deliveries`` and ``segfn replay``: the deliveries segfn run captured
(``--capture-days``), and what they emit through other code, compared with what they
emitted when they were received."""

from __future__ import annotations

import difflib
import json
import re
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from runner import captures
from runner.errorlog import PLAIN_TEXT
from runner.replay import report, verdict
from segfn.cli.events import data_dir_option, database
from segfn.cli.files import read_settings, read_text
from segfn.cli.invoke import modules_option
from segfn.cli.output import fail, print_json, printable
from segfn.sandbox.cachestore import CacheStores
from segfn.sandbox.compiler import Handler
from segfn.sandbox.egress import Egress, EgressPolicy
from segfn.sandbox.invocation import HttpRequest, Job
from segfn.sandbox.pool import BlockingPool, Limits

CHANGED = 1
_AGO = re.compile(r"(\d+)([dhm])")
_UNIT = {"d": 86400, "h": 3600, "m": 60}


def _since(ctx: click.Context, param: click.Parameter, text: str | None) -> float | None:
    if text is None:
        return None
    if ago := _AGO.fullmatch(text):
        return time.time() - int(ago[1]) * _UNIT[ago[2]]
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise click.BadParameter(f"{text!r} is neither a time (2026-12-01T09:30) nor an age "
                                 "(7d, 12h, 30m)", ctx, param) from None


def _when(at: float) -> str:
    return datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M:%S")


@click.command("deliveries", short_help="Deliveries segfn run captured (--capture-days).")
@data_dir_option
@click.option("--since", callback=_since, metavar="T",
              help="Only those received since T: a time (2026-12-01T09:30) or an age (7d).")
@click.option("--limit", type=click.IntRange(min=1), metavar="K", help="Only the newest K.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def deliveries_command(data_dir: Path, since: float | None, limit: int | None,
                       as_json: bool) -> None:
    """The deliveries segfn run captured in --data-dir (started with --capture-days N),
    oldest first.

    With --json: {"deliveries": [{"id", "at", "expires_at", "source", "invocation_id",
    "request": {"url", "headers", "body" (base64), "method"}, "emitted": [message],
    "error": null | {"type", "message"}}]}.
    """
    listed = captures.read_captures(database(data_dir), PLAIN_TEXT, since=since, limit=limit)
    if as_json:
        print_json({"deliveries": listed})
        return
    if not listed:
        click.echo("no captured deliveries (segfn run --capture-days N keeps them)")
    for entry in listed:
        request = HttpRequest.from_dict(entry["request"])
        outcome = (click.style(printable(entry["error"]["type"]), fg="red")
                   if entry["error"] else f"{len(entry['emitted'])} messages")
        click.echo(click.style(f"#{entry['id']}", bold=True) + "  "
                   + click.style(_when(entry["at"]), dim=True)
                   + f"  {request.method} {printable(request.url)}  {len(request.body)} bytes"
                   + f"  {outcome}")


@click.command("replay", short_help="Run captured deliveries through other code; diff.")
@click.option("--handler", "handler_path", metavar="FILE", required=True,
              type=click.Path(exists=True, dir_okay=False),
              help="The handler to replay them through.")
@click.option("--settings", "settings_path", metavar="FILE",
              type=click.Path(exists=True, dir_okay=False),
              help="Setting values, a JSON object (those segfn run was given).")
@data_dir_option
@click.option("--since", callback=_since, metavar="T",
              help="Only those received since T: a time (2026-12-01T09:30) or an age (7d).")
@click.option("--limit", type=click.IntRange(min=1), metavar="K", help="Only the newest K.")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=5.0, show_default=True,
              help="Wall-clock limit per invocation, in seconds.")
@modules_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.pass_context
def replay_command(ctx: click.Context, handler_path: str, settings_path: str | None,
                   data_dir: Path, since: float | None, limit: int | None, timeout: float,
                   modules: dict[str, list[str]], as_json: bool) -> None:
    """Run the deliveries segfn run captured in --data-dir through --handler FILE, in the
    sandbox, delivering and storing nothing, and compare what each emits with what it
    emitted when it was received (messageId, timestamp and context.library aside).

    With --json: {"replayed", "same", "changed", "failed", "diffs": [{"delivery",
    "before": [message], "after": [message], "error": null | {"type", "message"}}]}.
    Exits 0 when every delivery is the same, 1 when any changed or failed.
    """
    listed = captures.read_captures(database(data_dir), PLAIN_TEXT, since=since, limit=limit)
    handler = Handler(read_text(handler_path, "--handler"), Path(handler_path).name)
    settings = read_settings(settings_path) if settings_path else {}
    try:
        pool = BlockingPool(size=1, limits=Limits(timeout=timeout), modules=modules)
    except RuntimeError as exc:  # the worker process died before it was ready
        fail(f"the sandbox could not start: {exc}")
        ctx.exit(2)
    verdicts = []
    with tempfile.TemporaryDirectory(prefix="segfn-replay-") as directory, pool:
        caches = CacheStores(directory)
        egress = Egress(EgressPolicy(allow_loopback=True))
        try:
            for entry in listed:
                job = Job(handler, HttpRequest.from_dict(entry["request"]), settings,
                          entry["invocation_id"], alphabetize=True)
                verdicts.append(verdict(entry, pool.invoke(job, egress,
                                                           caches.answerer("replay"))))
        finally:
            pool.run(caches.close())
    answer = report(verdicts)
    if as_json:
        print_json(answer)
    else:
        show_report(answer)
    ctx.exit(CHANGED if answer["changed"] or answer["failed"] else 0)


def show_report(answer: dict[str, Any]) -> None:
    """A readable diff per delivery that is not the same, then a summary line."""
    for diff in answer["diffs"]:
        click.echo(click.style(f"delivery #{diff['delivery']}", bold=True))
        if diff["error"]:
            click.secho(f"  {printable(diff['error']['type'])}: "
                        f"{printable(diff['error']['message'])}", fg="red")
        for line in _lines(diff["before"], diff["after"]):
            colour = {"+": "green", "-": "red"}.get(line[:1])
            click.secho("  " + printable(line), fg=colour)
    summary = (f"{answer['replayed']} replayed: {answer['same']} same, "
               f"{answer['changed']} changed, {answer['failed']} failed")
    click.secho(summary, bold=True,
                fg="green" if answer["replayed"] == answer["same"] else "yellow")


def _lines(before: list[Any], after: list[Any]) -> list[str]:
    def text(messages: list[Any]) -> list[str]:
        return json.dumps(messages, indent=2, sort_keys=True, ensure_ascii=False).splitlines()

    diff = difflib.unified_diff(text(before), text(after), "before", "after", lineterm="", n=2)
    # The --- and +++ header lines say nothing the heading does not.
    return [line for line in diff if not line.startswith(("---", "+++"))]
