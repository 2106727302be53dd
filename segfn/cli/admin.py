"""``segfn admin``: chores on a service's data dir, offline or while it runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from segfn.cli.files import write_private
from segfn.cli.output import print_json
from segfn.cli.serve import (
    data_dir_option,
    database_option,
    key_file_option,
    keyring_from,
    opened,
    state,
    unreachable,
)

if TYPE_CHECKING:
    from runner.service.keyring import Keyring

F = TypeVar("F", bound=Callable[..., Any])


def json_option(help: str) -> Callable[[F], F]:
    return click.option("--json", "as_json", is_flag=True, help=help)


@click.group()
def admin() -> None:
    """Chores on a service's state (its data dir or --database): migrations, workspaces and
    the secret key."""


@admin.command("migrate")
@data_dir_option
@database_option
@json_option('Print [{"database", "was", "now"}], one for each database migrated.')
def migrate_command(data_dir: Path | None, database: str | None, as_json: bool) -> None:
    """Bring the service's database(s) to this segfn's schema.

    With --database, run it once for the fleet, before starting nodes of a new version (a
    node refuses a database at another revision than its own). SQLite files in a data dir
    are migrated by segfn serve itself; this does it ahead.
    """
    from sqlalchemy.exc import OperationalError

    from runner.db import engine as engines
    from runner.db import migrate

    done: list[dict[str, str | None]] = []
    for target in dict.fromkeys(state(data_dir, database)):
        engine = engines.create(target)
        try:
            was, now = migrate.upgrade(engine)
        except migrate.SchemaMismatch as exc:
            raise click.ClickException(str(exc)) from None
        except OperationalError as exc:
            raise unreachable(target, exc) from None
        finally:
            engine.dispose()
        done.append({"database": engines.describe(target), "was": was, "now": now})
    if as_json:
        print_json(done)
        return
    for entry in done:
        change = (f"already at revision {entry['now']}" if entry["was"] == entry["now"]
                  else f"revision {entry['was'] or '(none)'} -> {entry['now']}")
        click.echo(f"{entry['database']}: {change}")


@admin.command("create-workspace")
@click.argument("name")
@data_dir_option
@database_option
@json_option('Print {"id", "name", "token"}.')
def create_workspace(name: str, data_dir: Path | None, database: str | None,
                     as_json: bool) -> None:
    """Create workspace NAME; print its Workspace Owner token, alone on the last line.

    Works offline and while the service runs.
    """
    from runner.service import catalog
    from runner.service.problems import Problem

    try:
        with opened(state(data_dir, database)[0]) as db:
            workspace_id, secret = catalog.create_workspace(db, name)
    except Problem as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        print_json({"id": workspace_id, "name": name, "token": secret})
        return
    click.echo(f"workspace {name} ({workspace_id}) created; its Workspace Owner token, "
               "shown this once:")
    click.echo(secret)


@admin.command("generate-key")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Write the key to FILE, readable by you only (mode 0600), for "
                   "segfn serve --secret-key-file; without it, the key is printed.")
@json_option('Print {"key": KEY, "file": null}, or with --output {"key": null, "file": FILE}.')
def generate_key(output: Path | None, as_json: bool) -> None:
    """Print a new secret key for encrypted settings, or write it to --output FILE."""
    from runner.service.keyring import generate_key as new_key

    key = new_key()
    if output is not None:
        try:
            write_private(output, key + "\n")
        except OSError as exc:
            raise click.BadParameter(f"{output}: {exc.strerror}", param_hint="--output") from None
    if as_json:
        print_json({"key": None, "file": str(output)} if output else {"key": key, "file": None})
    elif output is not None:
        click.echo(f"wrote a new key to {output} (mode 0600); start with: "
                   f"segfn serve --secret-key-file {output}")
    else:
        click.echo(key)


@admin.command("rotate-key")
@data_dir_option
@database_option
@key_file_option
@json_option('Print {"re_encrypted": COUNT, "key": FINGERPRINT}.')
def rotate_key(data_dir: Path | None, database: str | None, secret_key_file: Path | None,
               as_json: bool) -> None:
    """Re-encrypt every secret setting under the first key given.

    Give the keys as 'NEW,OLD'; afterwards NEW alone reads everything. Run it while the
    service is stopped, or while it runs with 'NEW,OLD' too.
    """
    from runner.service.keyring import KeyringError
    from runner.service.vault import rotate_secrets

    keyring = keyring_from(secret_key_file)
    if keyring is None:
        raise click.UsageError("give the keys as 'NEW,OLD' with --secret-key-file or "
                               "$SEGFN_SECRET_KEY")
    catalog_database, runtime_database = state(data_dir, database)
    try:
        with opened(catalog_database) as db:
            count = rotate_secrets(db, keyring)
    except KeyringError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        print_json({"re_encrypted": count, "key": keyring.fingerprint})
        return
    click.echo(f"re-encrypted {count} secret setting value(s) under key "
               f"{keyring.fingerprint}")
    _rotate_replays(runtime_database, keyring)


def _rotate_replays(database: str | Path, keyring: Keyring) -> None:
    """The original requests the errors log keeps for retries, sealed again."""
    from runner import captures
    from runner.errorlog import rotate_replays

    if isinstance(database, Path) and not database.exists():
        return
    with opened(database) as db:
        done, failed = rotate_replays(db, keyring.rotate)
        kept, lost = captures.rotate(db, keyring.rotate)
    click.echo(f"re-encrypted {done} request(s) the errors log keeps for retries")
    if failed:
        click.secho(f"{failed} kept request(s) open with none of these keys; those entries "
                    "cannot be retried until the service runs with their key", fg="yellow",
                    err=True)
    click.echo(f"re-encrypted {kept} captured deliver(ies)")
    if lost:
        click.secho(f"{lost} captured deliver(ies) open with none of these keys; they cannot "
                    "be replayed until the service runs with their key", fg="yellow",
                    err=True)
