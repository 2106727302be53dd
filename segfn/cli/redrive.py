"""``segfn errors retry`` and ``segfn dead-letters resend``: failed work run or sent again,
in segfn run's data dir or through the logged-in service.

Locally, the command moves the entries into the runner's queues and the running ``segfn
run`` takes them from there (within a second), as it takes its own retries; with no runner
running they wait there for the next start.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from runner import errorlog, redrive
from runner.lock import DataDirBusy, exclusive
from runner.store import Db, transaction
from segfn.cli.events import data_dir_option, runner_file
from segfn.cli.output import print_json, printable

source_option = click.option(
    "--source", "source_ref", metavar="ID",
    help="Of this source of the logged-in service (id or name); else segfn run's.")
json_flag = click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
ids_argument = click.argument("ids", nargs=-1, type=click.IntRange(min=1))
all_flag = click.option("--all", "every", is_flag=True, help="Every entry (of --source).")


def _selection(ids: tuple[int, ...], every: bool) -> list[int] | None:
    if bool(ids) == every:
        raise click.UsageError("give entry ids or --all, not both")
    return None if every else list(ids)


def _body(ids: list[int] | None) -> dict[str, Any]:
    return {"all": True} if ids is None else {"ids": ids}


def _local(data_dir: Path, change: Callable[[Db], dict[str, Any]]
           ) -> tuple[dict[str, Any], bool]:
    """``change`` done in one transaction on segfn run's file; and whether a runner is
    running on it to take what was queued."""
    with transaction(runner_file(data_dir)) as db:
        done = change(db)
    try:
        with exclusive(data_dir):
            return done, False
    except DataDirBusy:
        return done, True


def _where(source_ref: str | None, running: bool, data_dir: Path, does: str) -> str:
    if source_ref:
        return f"the service {does} them now"
    if running:
        return f"the running segfn run {does} them within a second"
    return f"no segfn run is running on {data_dir}: they wait for its next start"


def _refusals(done: dict[str, Any]) -> None:
    for refused in done["refused"]:
        click.secho(f"#{refused['id']}: {printable(refused['reason'])}", fg="yellow",
                    err=True)
    if done["left"]:
        click.echo(f"{done['left']} more left: run the command again for them")


@click.command("retry", short_help="Run failed invocations again, with the version now "
                                   "deployed.")
@ids_argument
@all_flag
@data_dir_option
@source_option
@json_flag
@click.pass_context
def retry_command(ctx: click.Context, ids: tuple[int, ...], every: bool, data_dir: Path,
                  source_ref: str | None, as_json: bool) -> None:
    """Run entries of the errors log (IDS, as segfn errors shows them, or --all) again,
    each as one attempt more, with the code and settings deployed now: a success leaves
    the log, a failure is logged again. Exits 1 if any entry was not retried (its request
    not kept, or no such entry).

    With --json: {"queued": [{"id", "invocation_id"}], "refused": [{"id", "reason"}],
    "left"}.
    """
    selection = _selection(ids, every)
    running = False
    if source_ref:
        from segfn.cli.remote import connect, part

        done = connect().post(f"/sources/{part(source_ref)}/errors/retry", _body(selection))
    else:
        done, running = _local(data_dir, lambda db: redrive.retry_errors(
            db, ids=selection, source=None, sealer=errorlog.PLAIN_TEXT))
    if as_json:
        print_json(done)
    else:
        queued = done["queued"]
        click.secho(f"queued {len(queued)} to run again", fg="green" if queued else None,
                    bold=True, nl=False)
        click.echo(f": {_where(source_ref, running, data_dir, 'runs')}; segfn errors shows any "
                   "that fail again" if queued else "")
        _refusals(done)
    ctx.exit(1 if done["refused"] else 0)


@click.command("resend", short_help="Send dead letters to the destination again.")
@ids_argument
@all_flag
@data_dir_option
@source_option
@json_flag
@click.pass_context
def resend_command(ctx: click.Context, ids: tuple[int, ...], every: bool, data_dir: Path,
                   source_ref: str | None, as_json: bool) -> None:
    """Put dead letters (IDS, as segfn dead-letters shows them, or --all) back into the
    outbox, under the write key their source has now; one refused again is a dead letter
    again. Exits 1 if any was not resent.

    With --json: {"resent": [{"id", "messages"}], "refused": [{"id", "reason"}], "left"}.
    """
    selection = _selection(ids, every)
    running = False
    if source_ref:
        from segfn.cli.remote import connect, part

        done = connect().post(f"/sources/{part(source_ref)}/dead-letters/resend",
                              _body(selection))
    else:
        # segfn run's one source sends under the runner's own write key.
        done, running = _local(data_dir, lambda db: redrive.resend_dead_letters(
            db, ids=selection, source=None, write_key_of=lambda _: None))
    if as_json:
        print_json(done)
    else:
        resent = done["resent"]
        click.secho(f"resent {len(resent)} dead letter(s)", fg="green" if resent else None,
                    bold=True, nl=False)
        click.echo(f": {_where(source_ref, running, data_dir, 'sends')}"
                   if resent else "")
        _refusals(done)
    ctx.exit(1 if done["refused"] else 0)
