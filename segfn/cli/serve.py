"""``segfn serve`` and ``segfn admin``: the multi-tenant service and its offline chores."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from segfn.cli.output import print_outcome
from segfn.cli.run import claimed, confinement, execution_options

if TYPE_CHECKING:
    from runner.endpoint import WebhookLimits
    from runner.retries import RetryPolicy
    from runner.runtime import Outcome
    from runner.service.keyring import Keyring
    from runner.source import Source
    from segfn.sandbox.confine.plan import Plan

CATALOG_FILE = "catalog.db"
# Tokens (hashed), secrets (encrypted) and every event live here: the operator's alone.
DATA_DIR_MODE = 0o700

data_dir_option = click.option(
    "--data-dir", required=True, type=click.Path(file_okay=False, path_type=Path),
    help="Where the service keeps its catalog, events, retries and errors log.")
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


def open_catalog(data_dir: Path) -> Any:
    """A connection to the catalog, its tables created; for commands that run offline."""
    from runner.service import catalog
    from runner.store import connect

    data_dir.mkdir(parents=True, exist_ok=True, mode=DATA_DIR_MODE)
    db = connect(data_dir / CATALOG_FILE)
    db.executescript(catalog.SCHEMA)
    return db


@click.command(short_help="Serve the functions and sources of many workspaces.")
@data_dir_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option("--public-url", metavar="URL",
              help="The address senders use to reach this service, the base of every "
                   "webhook URL [default: http://HOST:PORT].")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64),
              help="Sandbox worker processes of each function that runs.")
@click.option("--max-workers", default=16, show_default=True, type=click.IntRange(1, 4096),
              help="Sandbox worker processes of all functions together; past it the least "
                   "recently used idle function's workers stop.")
@click.option("--segment-endpoint", envvar="SEGFN_SEGMENT_ENDPOINT", metavar="URL",
              help="A Segment-compatible Tracking API; events go to the embedded store "
                   "without.")
@click.option("--write-key", envvar="SEGFN_WRITE_KEY",
              help="The write key for sources that have none of their own.")
@key_file_option
@click.option("--rate-limit", default=100.0, show_default=True, type=click.FloatRange(min=0),
              metavar="N", help="Requests per second per source; 0 turns the limit off.")
@click.option("--allow-private-fetch", is_flag=True,
              help="Let handlers fetch loopback and private addresses (development only).")
@click.option("--insecure-workers", is_flag=True,
              help="Start even if this machine cannot confine sandbox workers fully "
                   "(no bubblewrap, namespaces or seccomp): a handler that breaks out of "
                   "the sandbox may then reach what the service can.")
@execution_options
def serve(data_dir: Path, host: str, port: int, public_url: str | None, workers: int,
          max_workers: int, segment_endpoint: str | None, write_key: str | None,
          secret_key_file: Path | None, rate_limit: float, retry_time_scale: float,
          timeout: float, read_timeout: float,
          allow_private_fetch: bool, modules: dict[str, list[str]], worker_user: str,
          insecure_workers: bool) -> None:
    """Serve functions and sources of many workspaces: webhooks at /fn/TOKEN, the API at
    /api/v1, metrics at /metrics.

    The first start creates workspace "default" and prints its owner token once. It
    refuses to start unless sandbox workers can be fully confined (--insecure-workers).
    """
    import uvloop

    from runner.endpoint import WebhookLimits
    from runner.retries import RetryPolicy

    if max_workers < workers:
        raise click.UsageError(f"--max-workers ({max_workers}) must be at least --workers "
                               f"({workers}), the workers of one function")
    if segment_endpoint and not write_key:
        click.echo("note: no --write-key; every source needs a write_key of its own",
                   err=True)
    plan = confinement(worker_user, required=not insecure_workers)
    if insecure_workers:
        click.secho("--insecure-workers: sandbox workers are confined only as far as this "
                    "machine allows" + (f" (missing: {'; '.join(plan.missing)})"
                                        if plan.missing else ""), fg="red", err=True)
    try:
        with claimed(data_dir):
            uvloop.run(_serve(
            data_dir, host, port, (public_url or f"http://{host}:{port}").rstrip("/"),
            workers, max_workers, segment_endpoint, write_key, keyring_from(secret_key_file),
            WebhookLimits(stall_seconds=read_timeout, rate_limit=rate_limit or None),
            RetryPolicy(scale=retry_time_scale), timeout, allow_private_fetch, modules,
            plan))
    except KeyboardInterrupt:
        # uvicorn has already shut down gracefully; it re-raises the signal it caught.
        pass
    click.echo("segfn serve: stopped; accepted work is kept in " + str(data_dir))


async def _serve(data_dir: Path, host: str, port: int, public_url: str, workers: int,
                 max_workers: int, segment_endpoint: str | None, write_key: str | None,
                 keyring: Keyring | None, limits: WebhookLimits, policy: RetryPolicy,
                 timeout: float,
                 allow_private_fetch: bool, modules: dict[str, list[str]], plan: Plan) -> None:
    import uvicorn
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Mount, Route

    from runner.app import create_app
    from runner.delivery import Destination
    from runner.metrics import CONTENT_TYPE, Metrics
    from runner.runtime import Runtime
    from runner.service import catalog
    from runner.service.api import Api
    from runner.service.keyring import KeyringError
    from runner.service.operations import Service
    from runner.service.problems import Problem
    from runner.store import DATABASE_FILE, Store
    from segfn.sandbox.egress import Egress, EgressPolicy, listening_on
    from segfn.sandbox.fleet import Fleet
    from segfn.sandbox.pool import Limits, WorkerPool

    data_dir.mkdir(parents=True, exist_ok=True, mode=DATA_DIR_MODE)
    catalog_store = Store(data_dir / CATALOG_FILE, catalog.SCHEMA, upgrade=None)
    try:
        owner_token = await catalog_store.run(_first_workspace)
        service = Service(catalog_store, keyring, public_url,
                          default_write_key=bool(write_key or not segment_endpoint))
        try:
            count = await service.load()
        except (Problem, KeyringError) as exc:
            raise click.ClickException(f"cannot start: {exc}") from None
        metrics = Metrics(data_dir / DATABASE_FILE)

        def observe(source: Source, outcome: Outcome) -> None:
            metrics.observe(source, outcome)
            print_outcome(source, outcome)

        runtime = Runtime(
            data_dir,
            Fleet(lambda tenant: WorkerPool(workers, Limits(timeout=timeout), modules,
                                            plan=plan),
                  max_workers),
            Egress(EgressPolicy(allow_loopback=allow_private_fetch,
                                allow_private=allow_private_fetch,
                                refused_prefixes=(public_url,),
                                listening=listening_on(host, port))),
            service.resolve,
            Destination(segment_endpoint, write_key or "") if segment_endpoint else None,
            policy, listener=observe, on_delivery_failure=metrics.delivery_failed,
            on_loop_failure=metrics.loop_failed)

        async def scrape(request: Request) -> Response:
            return Response(metrics.render(), media_type=CONTENT_TYPE)

        app = create_app(runtime, service.route, limits, routes=[
            Mount("/api/v1", app=Api(service, runtime).app()),
            Route("/metrics", scrape, methods=["GET"])], on_refusal=metrics.webhook_refused)
        click.echo(click.style("segfn serve", bold=True)
                   + f": {count} source(s); webhooks at {public_url}/fn/…, the API at "
                   + f"{public_url}/api/v1 ({workers} workers a function, {max_workers} in all); "
                   + "events go to "
                   + (segment_endpoint or f"the embedded store in {data_dir}"))
        if keyring is None:
            click.secho("no secret key: encrypted settings cannot be stored until the "
                        "service starts with $SEGFN_SECRET_KEY or --secret-key-file "
                        "(segfn admin generate-key makes one)", fg="yellow")
        if owner_token:
            click.echo("created workspace default; its Workspace Owner token, shown this "
                       f"once (use it with: segfn login {public_url} TOKEN):")
            click.echo(owner_token)
        server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                               lifespan="on", timeout_graceful_shutdown=10))
        await server.serve()
    finally:
        catalog_store.close()


def _first_workspace(db: Any) -> str | None:
    """On the first start, workspace "default"; its owner token, to be shown once."""
    from runner.service import catalog

    if catalog.count_workspaces(db):
        return None
    return catalog.create_workspace(db, "default")[1]
