"""``segfn events``, ``segfn errors`` and ``segfn dead-letters``: what the runner stored,
read from its data dir, or from the logged-in service."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from runner import errorlog, events
from runner.store import DATABASE_FILE, open_database
from segfn.cli.output import describe_message, print_json, printable

_TAIL_POLL = 0.5

data_dir_option = click.option(
    "--data-dir", default=".segfn", show_default=True,
    type=click.Path(file_okay=False, path_type=Path), help="The runner's data directory.")


def runner_file(data_dir: Path) -> Path:
    """segfn run's database in ``data_dir``; an error saying what to do if there is none."""
    path = data_dir / DATABASE_FILE
    if not path.exists():
        hint = " (or give --source NAME for a source of the service logged in to)" \
            if _service() else ""
        raise click.ClickException(f"no runner data in {data_dir} (start segfn run "
                                   f"first){hint}")
    return path


def database(data_dir: Path) -> Any:
    """A connection that reads segfn run's database in ``data_dir``."""
    return open_database(runner_file(data_dir)).connect().execution_options(reading=True)


def _service() -> str | None:
    # Not at the top: only the remote commands need the API client.
    from segfn.cli.remote import logged_in_url

    return logged_in_url()


def _say_which(data_dir: Path, ref: tuple[str, str | None], what: str) -> None:
    """On stderr, when a service is logged in to: whose ``what`` these are; ``ref`` is
    ("source" or "function", the one given or None)."""
    url = _service()
    if url is None:
        return
    if ref[1]:
        note = f"{what} of {ref[0]} {printable(ref[1])} of {url}"
    else:
        note = (f"{what} of segfn run in {data_dir}, not of {url} (give --source NAME for "
                "a source's)")
    click.secho(note, dim=True, err=True)


def _when(at: float) -> str:
    return datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M:%S")


@click.command("events", short_help="Stored events, of segfn run or of a service's source.")
@data_dir_option
@click.option("--source", "source_ref", metavar="ID",
              help="The events of this source of the logged-in service (id or name).")
@click.option("--tail", is_flag=True, help="Keep printing events as they arrive.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def events_command(data_dir: Path, source_ref: str | None, tail: bool, as_json: bool) -> None:
    """Events and objects in the embedded store: segfn run's (in --data-dir), or with
    --source, those of a source of the logged-in service (see segfn login).

    With --json: {"events": [{"id", "source", "invocation_id", "received_at", "message"}],
    "objects": [{"source", "collection", "id", "properties", "updated_at"}],
    "dead_letters": [...]} (with --source: {"events": [...]} only); with --tail, one event
    per line as it arrives.
    """
    if source_ref:
        # Not at the top: only the remote commands need the API client.
        from segfn.cli.remote import connect, part

        client, path = connect(), f"/sources/{part(source_ref)}/events"

        def read(after: int) -> list[dict[str, Any]]:
            return client.get(path, after=str(after), limit="1000")["events"]
    else:
        db = database(data_dir)

        def read(after: int) -> list[dict[str, Any]]:
            try:
                return events.read_events(db, after, 1000)
            finally:
                db.rollback()  # ends the snapshot: the next read sees what came since

    if not as_json:
        _say_which(data_dir, ("source", source_ref), "events")
    if as_json and not tail:
        stored: list[dict[str, Any]] = []
        while batch := read(stored[-1]["id"] if stored else 0):
            stored.extend(batch)
        print_json({"events": stored} if source_ref else _local_extras(db, stored))
        return
    last = 0
    batch = read(last)
    if not batch and not as_json:
        click.echo("no events" + (" yet; waiting for some (Ctrl-C stops)" if tail else ""))
    while True:
        for event in batch:
            last = event["id"]
            if as_json:
                click.echo(json.dumps(event, ensure_ascii=False))
            else:
                click.echo(click.style(_when(event["received_at"]), dim=True) + "  "
                           + describe_message(event["message"]))
        if not tail:
            break
        time.sleep(_TAIL_POLL)
        batch = read(last)
    if not as_json and not source_ref:
        _print_local_extras(db)


def _local_extras(db: Any, stored: list[dict[str, Any]]) -> dict[str, Any]:
    # Not at the top: the delivery module brings aiohttp, which other commands don't need.
    from runner.delivery import read_dead_letters

    return {"events": stored, "objects": events.read_objects(db),
            "dead_letters": read_dead_letters(db)}


def _print_local_extras(db: Any) -> None:
    from runner.delivery import read_dead_letters

    for obj in events.read_objects(db):
        click.echo(click.style(f"{'set':<9}", fg="cyan") + f"  {obj['collection']}/"
                   f"{obj['id']}  " + json.dumps(obj["properties"], ensure_ascii=False)[:80])
    print_dead_letters(read_dead_letters(db), quiet=True)


@click.group("errors", invoke_without_command=True,
             short_help="The errors log, of segfn run or of the service; retry.")
@data_dir_option
@click.option("--source", "source_ref", metavar="ID",
              help="The errors of this source of the logged-in service (id or name).")
@click.option("--function", "function_ref", metavar="ID",
              help="The errors of this function of the logged-in service (id or name).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.pass_context
def errors_command(ctx: click.Context, data_dir: Path, source_ref: str | None,
                   function_ref: str | None, as_json: bool) -> None:
    """The errors log, newest first: segfn run's (in --data-dir), or with --source or
    --function, the logged-in service's (see segfn login). segfn errors retry runs entries
    again.

    With --json: {"errors": [{"id", "at", "source", "function", "invocation_id",
    "error": {"type", "message"}, "request": {"url", "headers", "body"}, "logs",
    "attempts", "retryable"}]}.
    """
    if ctx.invoked_subcommand is not None:
        return
    if source_ref and function_ref:
        raise click.UsageError("give --source or --function, not both")
    if not as_json:
        _say_which(data_dir, ("function", function_ref) if function_ref
                   else ("source", source_ref), "errors")
    if source_ref or function_ref:
        # Not at the top: only the remote commands need the API client.
        from segfn.cli.remote import connect, part

        kind, ref = ("sources", source_ref) if source_ref else ("functions", function_ref)
        document = connect().get(f"/{kind}/{part(ref or '')}/errors")
    else:
        document = {"errors": errorlog.read_errors(database(data_dir))}
    if as_json:
        print_json(document)
    else:
        print_errors(document["errors"])


def print_errors(entries: list[dict[str, Any]]) -> None:
    if not entries:
        click.echo("no errors")
    for entry in entries:
        click.echo(click.style(f"#{entry['id']}", bold=True) + "  "
                   + click.style(_when(entry["at"]), dim=True) + "  "
                   + click.style(printable(entry["error"]["type"]), fg="red", bold=True)
                   + f"  {printable(entry['error']['message'])}  "
                     f"(attempts: {entry['attempts']}"
                   + ("" if entry["retryable"] else "; cannot be retried") + ")")
        click.echo(f"  request {printable(entry['request']['url'])}  "
                   f"{len(entry['request']['body'])} bytes")
        for line in entry["logs"]:
            click.echo(f"  | {printable(line)}")


_DEAD_LETTERS_HELP = """Messages the Tracking API refused for good (a 4xx other than 429),
    oldest first: segfn run's (in --data-dir), or with --source, those of a source of the
    logged-in service. A refused batch is split until the refused message is alone, so each
    dead letter holds one message; the others were delivered. segfn dead-letters resend
    sends them again.

    With --json: {"dead_letters": [{"id", "at", "source", "workspace", "status",
    "response", "batch": {"batch": [message]}}]}.
    """


def _dead_letter_options(command: Any) -> Any:
    for option in reversed((
            data_dir_option,
            click.option("--source", "source_ref", metavar="ID",
                         help="The dead letters of this source of the logged-in service "
                              "(id or name)."),
            click.option("--json", "as_json", is_flag=True,
                         help="Print one JSON document."))):
        command = option(command)
    return command


@click.group("dead-letters", invoke_without_command=True, help=_DEAD_LETTERS_HELP,
             short_help="Messages the destination refused for good; resend.")
@_dead_letter_options
@click.pass_context
def dead_letters_command(ctx: click.Context, data_dir: Path, source_ref: str | None,
                         as_json: bool) -> None:
    if ctx.invoked_subcommand is None:
        _list_dead_letters(data_dir, source_ref, as_json)


@dead_letters_command.command("list", help=_DEAD_LETTERS_HELP,
                              short_help="The dead letters (the same as no subcommand).")
@_dead_letter_options
def list_dead_letters(data_dir: Path, source_ref: str | None, as_json: bool) -> None:
    _list_dead_letters(data_dir, source_ref, as_json)


def _list_dead_letters(data_dir: Path, source_ref: str | None, as_json: bool) -> None:
    if source_ref:
        from segfn.cli.remote import connect, part

        document = connect().get(f"/sources/{part(source_ref)}/dead-letters")
    else:
        from runner.delivery import read_dead_letters

        document = {"dead_letters": read_dead_letters(database(data_dir))}
    if as_json:
        print_json(document)
    else:
        print_dead_letters(document["dead_letters"])


def print_dead_letters(letters: list[dict[str, Any]], quiet: bool = False) -> None:
    """One line a dead letter and one a message; ``quiet`` says nothing when there is none."""
    if not letters and not quiet:
        click.echo("no dead letters")
    for letter in letters:
        click.echo(click.style(f"#{letter['id']}", bold=True) + "  "
                   + click.style(_when(letter["at"]), dim=True) + "  "
                   + click.style(f"dead letter {letter['status']}", fg="red", bold=True)
                   + f"  {printable(str(letter['source']))}  "
                   + printable(letter["response"][:200]))
        for message in letter["batch"].get("batch", []):
            click.echo("  " + describe_message(message))
