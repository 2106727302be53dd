"""``segfn deliveries`` and ``segfn replay``: the deliveries segfn run (or a source of the
logged-in service) captured (``--capture-days``), and what they emit through other code,
compared with what they emitted when they were received."""

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
from runner.replay import report, unreadable, verdict
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


@click.command("deliveries", short_help="Captured deliveries, of segfn run or of a source.")
@data_dir_option
@click.option("--source", "source_ref", metavar="ID",
              help="Those of this source of the logged-in service (id or name).")
@click.option("--since", callback=_since, metavar="T",
              help="Only those received since T: a time (2026-12-01T09:30) or an age (7d).")
@click.option("--limit", type=click.IntRange(min=1), metavar="K", help="Only the newest K.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def deliveries_command(data_dir: Path, source_ref: str | None, since: float | None,
                       limit: int | None, as_json: bool) -> None:
    """Captured deliveries, oldest first: segfn run's in --data-dir (started with
    --capture-days N), or with --source, those of a source of the logged-in service
    (configured with --capture-days N; the newest 1000).

    With --json: {"deliveries": [{"id", "at", "expires_at", "source", "invocation_id",
    "request": {"url", "headers", "body" (base64), "method"}, "emitted": [message],
    "error": null | {"type", "message"}}]}; a service's show the request as its errors log
    does: {"url", "headers", "body" (text)}, secrets redacted.
    """
    if source_ref:
        from segfn.cli.remote import connect, part

        listed = connect().get(f"/sources/{part(source_ref)}/deliveries")["deliveries"]
        listed = [e for e in listed if since is None or e["at"] >= since][-(limit or 0):]
    else:
        listed = captures.read_captures(database(data_dir), PLAIN_TEXT, since=since,
                                        limit=limit)
    if as_json:
        print_json({"deliveries": listed})
        return
    if not listed:
        click.echo("no captured deliveries (--capture-days N keeps them)")
    for entry in listed:
        outcome = (click.style(printable(entry["error"]["type"]), fg="red")
                   if entry["error"] else f"{len(entry['emitted'])} messages")
        click.echo(click.style(f"#{entry['id']}", bold=True) + "  "
                   + click.style(_when(entry["at"]), dim=True)
                   + f"  {_request_line(entry['request'])}  {outcome}")


def _request_line(shown: dict[str, Any] | None) -> str:
    if shown is None:
        return click.style("request sealed under a key not given", fg="yellow")
    if "method" in shown:  # segfn run's: the request itself
        request = HttpRequest.from_dict(shown)
        return f"{request.method} {printable(request.url)}  {len(request.body)} bytes"
    return f"{printable(shown['url'])}  {len(shown['body'].encode())} bytes"


@click.command("replay", short_help="Run captured deliveries through other code; diff.")
@click.argument("source_ref", metavar="[SOURCE]", required=False)
@click.option("--version", type=click.IntRange(min=1), metavar="N",
              help="With SOURCE: the version of its function to replay through.")
@click.option("--handler", "handler_path", metavar="FILE",
              type=click.Path(exists=True, dir_okay=False),
              help="Without SOURCE: the handler to replay segfn run's captures through.")
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
def replay_command(ctx: click.Context, source_ref: str | None, version: int | None,
                   handler_path: str | None, settings_path: str | None, data_dir: Path,
                   since: float | None, limit: int | None, timeout: float,
                   modules: dict[str, list[str]], as_json: bool) -> None:
    """Run captured deliveries through other code, in the sandbox, delivering and storing
    nothing, and compare what each emits with what it emitted when it was received
    (messageId, timestamp and context.library aside): segfn run's in --data-dir through
    --handler FILE, or SOURCE's of the logged-in service through --version N of its
    function, with the source's settings.

    With --json: {"replayed", "same", "changed", "failed", "diffs": [{"delivery",
    "before": [message], "after": [message], "error": null | {"type", "message"}}]}.
    Exits 0 when every delivery is the same, 1 when any changed or failed.
    """
    if source_ref:
        if version is None or handler_path:
            raise click.UsageError("SOURCE is replayed through --version N of its function "
                                   "(--handler FILE replays segfn run's, without SOURCE)")
        answer = _replay_remote(source_ref, version, since, limit)
    elif handler_path is None or version is not None:
        raise click.UsageError("give SOURCE --version N (a service's source), or --handler "
                               "FILE (segfn run's captures in --data-dir)")
    else:
        answer = _replay_local(ctx, handler_path, settings_path, data_dir, since, limit,
                               timeout, modules)
    if as_json:
        print_json(answer)
    else:
        show_report(answer)
    ctx.exit(CHANGED if answer["changed"] or answer["failed"] else 0)


def _replay_remote(source_ref: str, version: int, since: float | None,
                   limit: int | None) -> dict[str, Any]:
    from segfn.cli.remote import connect, part

    body: dict[str, Any] = {"version": version}
    if since is not None:
        body["since"] = int(since)
    if limit is not None:
        body["limit"] = limit
    answer: dict[str, Any] = connect().post(f"/sources/{part(source_ref)}/replay", body)
    return answer


def _replay_local(ctx: click.Context, handler_path: str, settings_path: str | None,
                  data_dir: Path, since: float | None, limit: int | None, timeout: float,
                  modules: dict[str, list[str]]) -> dict[str, Any]:
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
                if entry["request"] is None:  # a service's, sealed: not for segfn run
                    verdicts.append(unreadable(entry))
                    continue
                job = Job(handler, HttpRequest.from_dict(entry["request"]), settings,
                          entry["invocation_id"], alphabetize=True)
                verdicts.append(verdict(entry, pool.invoke(job, egress,
                                                           caches.answerer("replay"))))
        finally:
            pool.run(caches.close())
    return report(verdicts)


def show_report(answer: dict[str, Any]) -> None:
    """A readable diff per delivery that is not the same, then a summary line."""
    show_diffs(answer["diffs"])
    summary = (f"{answer['replayed']} replayed: {answer['same']} same, "
               f"{answer['changed']} changed, {answer['failed']} failed")
    click.secho(summary, bold=True,
                fg="green" if answer["replayed"] == answer["same"] else "yellow")


def show_diffs(diffs: list[dict[str, Any]]) -> None:
    """Each delivery's error, if any, and the unified diff of its messages. A delivery is
    named by its capture's number, or (a shadow's) by its invocation id."""
    for diff in diffs:
        name = diff["delivery"]
        click.echo(click.style(f"delivery {'#' if isinstance(name, int) else ''}{name}",
                               bold=True))
        if diff["error"]:
            click.secho(f"  {printable(diff['error']['type'])}: "
                        f"{printable(diff['error']['message'])}", fg="red")
        for line in _lines(diff["before"], diff["after"]):
            colour = {"+": "green", "-": "red"}.get(line[:1])
            click.secho("  " + printable(line), fg=colour)


def _lines(before: list[Any], after: list[Any]) -> list[str]:
    def text(messages: list[Any]) -> list[str]:
        return json.dumps(messages, indent=2, sort_keys=True, ensure_ascii=False).splitlines()

    diff = difflib.unified_diff(text(before), text(after), "before", "after", lineterm="", n=2)
    # The --- and +++ header lines say nothing the heading does not.
    return [line for line in diff if not line.startswith(("---", "+++"))]
