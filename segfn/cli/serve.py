"""``segfn serve`` and ``segfn admin``: the multi-tenant service and its offline chores."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from runner.delivery import POST_TIMEOUT
from runner.leases import LEASE_SECONDS, Lease
from segfn.cli.options import runner_config, runner_options
from segfn.cli.output import InvocationLines
from segfn.cli.run import (
    claimed,
    confinement,
    interrupt_on_sigterm,
    listen,
    uvicorn_server,
)

if TYPE_CHECKING:
    from runner.service.config import ServiceConfig
    from runner.service.keyring import Keyring
    from segfn.sandbox.confine.plan import Plan

CATALOG_FILE = "catalog.db"
# Tokens (hashed), secrets (encrypted) and every event live here: the operator's alone.
DATA_DIR_MODE = 0o700

data_dir_option = click.option(
    "--data-dir", type=click.Path(file_okay=False, path_type=Path),
    help="Where the service keeps its catalog, events, retries and errors log (unless "
         "--database names a database for them).")
database_option = click.option(
    "--database", envvar="SEGFN_DATABASE_URL", metavar="URL",
    help="The database of the service's state: postgresql://USER:PASSWORD@HOST/NAME (else "
         "$SEGFN_DATABASE_URL; without either, SQLite files in --data-dir).")
key_file_option = click.option(
    "--secret-key-file", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
    help="The key that encrypts secret settings (else $SEGFN_SECRET_KEY). "
         "'segfn admin generate-key' makes one.")


def keyring_from(key_file: Path | None) -> Keyring | None:
    """The operator's secret key: the key file, else $SEGFN_SECRET_KEY, else None."""
    from runner.service.keyring import KeyringError, load_keyring

    try:
        return load_keyring(os.environ, key_file)
    except KeyringError as exc:
        raise click.UsageError(str(exc)) from None


def state(data_dir: Path | None, database: str | None) -> tuple[str | Path, str | Path]:
    """Where the catalog and the runtime's state are: both in ``database`` when given,
    else a SQLite file each in ``data_dir`` (made, private to the operator)."""
    from runner.db.engine import url_of
    from runner.store import DATABASE_FILE

    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True, mode=DATA_DIR_MODE)
    if database:
        try:
            url_of(database)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--database") from None
        return database, database
    if data_dir is None:
        raise click.UsageError("give --data-dir DIR or --database URL ($SEGFN_DATABASE_URL)")
    return data_dir / CATALOG_FILE, data_dir / DATABASE_FILE


def unreachable(database: str | Path | Any, exc: Exception) -> click.ClickException:
    """The error of a command whose database did not answer (a server down, a wrong
    password, a file it may not open)."""
    from runner.db.engine import describe

    why = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    return click.ClickException(f"the database {describe(database)} cannot be used: {why}")


@contextlib.contextmanager
def opened(database: str | Path) -> Iterator[Any]:
    """One transaction on ``database`` for a command that runs offline; ``error:`` when its
    schema is not this segfn's, or it does not answer."""
    from sqlalchemy.exc import OperationalError

    from runner.db.migrate import SchemaMismatch
    from runner.store import transaction

    try:
        with transaction(database) as db:
            yield db
    except SchemaMismatch as exc:
        raise click.ClickException(str(exc)) from None
    except OperationalError as exc:
        raise unreachable(database, exc) from None


@click.command(short_help="Serve the functions and sources of many workspaces.")
@runner_options(data_dir=None, rate_limit=100.0)
@database_option
@click.option("--public-url", metavar="URL",
              help="The address senders use to reach this service, the base of every "
                   "webhook URL [default: http://HOST:PORT].")
@click.option("--max-workers", default=16, show_default=True, type=click.IntRange(1, 4096),
              help="Sandbox worker processes of all functions together; past it the least "
                   "recently used idle function's workers stop.")
@key_file_option
@click.option("--allow-private-fetch", is_flag=True,
              help="Let handlers fetch loopback and private addresses (development only).")
@click.option("--lease-seconds", type=click.FloatRange(min=1.0), default=LEASE_SECONDS,
              show_default=True,
              help="How long this node holds outbox rows and retries it claims; a node "
                   "that dies has its work taken over by the others after it. Keep it above "
                   f"{POST_TIMEOUT:g} s (a batch's POST) and the function timeout, else two "
                   "nodes may send one batch, or run one retry, at once.")
@click.option("--insecure-workers", is_flag=True,
              help="Start even if this machine cannot confine sandbox workers fully "
                   "(no bubblewrap, namespaces or seccomp): a handler that breaks out of "
                   "the sandbox may then reach what the service can.")
def serve(public_url: str | None, max_workers: int, secret_key_file: Path | None,
          allow_private_fetch: bool, insecure_workers: bool, database: str | None,
          lease_seconds: float, **options: Any) -> None:
    """Serve functions and sources of many workspaces: webhooks at /fn/TOKEN, the API at
    /api/v1, the web console at /console, metrics at /metrics.

    The first start creates workspace "default" and prints its owner token once. It
    refuses to start unless sandbox workers can be fully confined (--insecure-workers).
    """
    import uvloop

    from runner.service.config import ServiceConfig
    from segfn.sandbox.egress import EgressPolicy, listening_on

    sock = listen(options["host"], options["port"])
    # With --port 0 the system chooses: the URLs and the fetch policy name its choice.
    options["port"] = sock.getsockname()[1]
    url = (public_url or f"http://{options['host']}:{options['port']}").rstrip("/")
    runner = runner_config(**options, max_workers=max_workers, database=database or None,
                           lease=Lease(seconds=lease_seconds),
                           egress=lambda host, port:
                           EgressPolicy(allow_loopback=allow_private_fetch,
                                        allow_private=allow_private_fetch,
                                        refused_prefixes=(url,),
                                        listening=listening_on(host, port)))
    if options["segment_endpoint"] and not options["write_key"]:
        click.echo("note: no --write-key; every source needs a write_key of its own",
                   err=True)
    plan = confinement(runner.worker_user, required=not insecure_workers)
    if insecure_workers:
        click.secho("--insecure-workers: sandbox workers are confined only as far as this "
                    "machine allows" + (f" (missing: {'; '.join(plan.missing)})"
                                        if plan.missing else ""), fg="red", err=True)
    config = ServiceConfig(runner, url, keyring_from(secret_key_file),
                           default_write_key=bool(options["write_key"]
                                                  or not options["segment_endpoint"]))
    interrupt_on_sigterm()
    try:
        with claimed(runner.data_dir):
            with contextlib.closing(sock):
                uvloop.run(_serve(config, plan, sock))
    except KeyboardInterrupt:
        # uvicorn has already shut down gracefully; it re-raises the signal it caught.
        pass
    from runner.db.engine import describe

    click.echo("segfn serve: stopped; accepted work is kept in "
               + (describe(runner.database) if runner.database else str(runner.data_dir)))


async def _serve(config: ServiceConfig, plan: Plan, sock: socket.socket) -> None:
    from sqlalchemy.exc import OperationalError
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from runner.config import build_runtime
    from runner.db.engine import describe
    from runner.db.migrate import SchemaMismatch
    from runner.metrics import CONTENT_TYPE, Metrics
    from runner.observer import Observers
    from runner.service import console
    from runner.service.api import service_app
    from runner.service.keyring import KeyringError
    from runner.service.operations import Service
    from runner.service.problems import Problem
    from runner.store import Store

    runner, public_url = config.runner, config.public_url
    catalog_database, runtime_database = state(runner.data_dir, runner.database)
    try:
        catalog_store = Store(catalog_database)
    except SchemaMismatch as exc:
        raise click.ClickException(f"cannot start: {exc}") from None
    except OperationalError as exc:
        raise click.ClickException(
            f"cannot start: {unreachable(catalog_database, exc).message}") from None
    try:
        owner_token = await catalog_store.run(_first_workspace)
        service = Service(catalog_store, config.keyring, public_url,
                          default_write_key=config.default_write_key,
                          modules=runner.modules)
        try:
            count = await service.load()
        except (Problem, KeyringError) as exc:
            raise click.ClickException(f"cannot start: {exc}") from None
        metrics = Metrics(runtime_database)
        # The errors log keeps the requests it redacts only encrypted, with the secret key.
        runtime = build_runtime(runner, service.resolve, plan,
                                Observers((metrics, InvocationLines())), sealer=config.keyring)

        async def scrape(request: Request) -> Response:
            return Response(metrics.render(), media_type=CONTENT_TYPE)

        app = service_app(service, runtime, runner.webhook,
                          routes=[Route("/metrics", scrape, methods=["GET"])])
        click.echo(click.style("segfn serve", bold=True)
                   + f": {count} source(s); webhooks at {public_url}/fn/…, the API at "
                   + f"{public_url}/api/v1, the console at {public_url}{console.PREFIX}/ "
                   + f"({runner.workers} workers a function, {runner.max_workers} in all); "
                   + "events go to "
                   + (runner.destination.endpoint if runner.destination
                      else f"the embedded store in {describe(runtime_database)}"))
        if config.keyring is None:
            click.secho("no secret key: encrypted settings cannot be stored until the "
                        "service starts with $SEGFN_SECRET_KEY or --secret-key-file "
                        "(segfn admin generate-key makes one)", fg="yellow")
        if owner_token:
            click.echo("created workspace default; its Workspace Owner token, shown this "
                       f"once (use it with: segfn login {public_url} TOKEN):")
            click.echo(owner_token)
        await uvicorn_server(app, runner, runtime).serve(sockets=[sock])
    finally:
        catalog_store.close()


def _first_workspace(db: Any) -> str | None:
    """On the first start, workspace "default"; its owner token, to be shown once."""
    from runner.service import catalog

    if catalog.count_workspaces(db):
        return None
    return catalog.create_workspace(db, "default")[1]
