"""``segfn run``: serve one handler as a webhook on this machine."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from runner.source import Source
from segfn.cli.files import read_settings
from segfn.cli.options import runner_config, runner_options
from segfn.cli.output import show_invocations
from segfn.sandbox.compiler import Handler

if TYPE_CHECKING:
    from runner.config import RunnerConfig
    from runner.runtime import Runtime
    from segfn.sandbox.confine.plan import Plan

_RELOAD_POLL = 0.5


class WatchedSource:
    """The one source ``segfn run`` serves, read again when its files change."""

    def __init__(self, handler_path: Path, settings_path: Path | None,
                 allow_get: bool = False, dedup_header: str | None = None) -> None:
        self.handler_path = handler_path
        self.settings_path = settings_path
        self.allow_get = allow_get
        self.dedup_header = dedup_header
        self.current = self._load()
        self._stamp = self._mtimes()

    def _mtimes(self) -> tuple[float, ...]:
        paths = [self.handler_path] + ([self.settings_path] if self.settings_path else [])
        return tuple(p.stat().st_mtime for p in paths if p.exists())

    def _load(self) -> Source:
        settings = read_settings(str(self.settings_path)) if self.settings_path else {}
        handler = Handler(self.handler_path.read_text("utf-8"), self.handler_path.name)
        return Source("default", self.handler_path.stem, handler, settings,
                      allow_get=self.allow_get, dedup_header=self.dedup_header)

    def route(self, path: str) -> Source | None:
        return self.current if path == "/" else None

    def resolve(self, source_id: str) -> Source | None:
        return self.current if source_id == self.current.id else None

    async def watch(self) -> None:
        while True:
            await asyncio.sleep(_RELOAD_POLL)
            stamp = self._mtimes()
            if stamp == self._stamp:
                continue
            self._stamp = stamp
            try:
                self.current = self._load()
            except (OSError, click.BadParameter) as exc:
                click.secho(f"reload failed, still serving the previous version: {exc}",
                            fg="red", err=True)
                continue
            click.secho(f"reloaded {self.handler_path}", fg="yellow")


@contextlib.contextmanager
def claimed(data_dir: Path) -> Iterator[None]:
    """The data dir, held for this process (``runner.lock``); a clear error if it is taken."""
    from runner.lock import DataDirBusy, exclusive

    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(exclusive(data_dir))
        except DataDirBusy as exc:
            raise click.ClickException(str(exc)) from None
        yield


def confinement(worker_user: str, required: bool) -> Plan:
    """How this machine lets workers be confined, said at start. With ``required`` (segfn
    serve without --insecure-workers) anything missing stops the start."""
    from segfn.sandbox.confine.plan import decide

    try:
        plan = decide(worker_user)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--worker-user") from None
    if plan.missing and required:
        raise click.ClickException(
            "cannot confine sandbox workers: " + "; ".join(plan.missing)
            + ". Install bubblewrap and allow namespaces and seccomp (see the README's "
              "Security section), or start with --insecure-workers.")
    for missing in plan.missing:
        click.secho(f"workers are not confined by {missing}", fg="yellow", err=True)
    if plan.account is not None:
        click.echo(f"workers run as uid {plan.account.uid}, gid {plan.account.gid}", err=True)
    return plan


def _header_name(context: click.Context, param: click.Parameter,
                 value: str | None) -> str | None:
    from runner.dedup import check_header

    try:
        return None if value is None else check_header(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command()
@click.argument("handler_path", metavar="HANDLER.py",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--settings", "settings_path", metavar="FILE",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Setting values, a JSON object.")
@click.option("--reload", is_flag=True, help="Reload the handler and settings when they change.")
@click.option("--allow-get", is_flag=True,
              help="Let GET reach the handler too, for providers that verify a URL so.")
@click.option("--dedup-header", metavar="NAME", callback=_header_name,
              help="A header in which the provider names each delivery: a redelivery "
                   "within 24 h is answered, not run again (webhook-id, X-GitHub-Delivery, "
                   "X-Shopify-Webhook-Id and Idempotency-Key always are).")
@runner_options(data_dir=Path(".segfn"), rate_limit=0)
def run(handler_path: Path, settings_path: Path | None, reload: bool, allow_get: bool,
        dedup_header: str | None, **options: Any) -> None:
    """Serve HANDLER.py as a webhook at POST http://HOST:PORT/.

    Sandbox workers are confined as far as this machine allows; what it does not allow is
    said at start.
    """
    # Imported here, not at the top: the service's dependencies would slow every other
    # command's start-up (segfn invoke runs once per call in scripts and CI).
    import uvloop

    from runner.app import create_app
    from runner.config import build_runtime
    from runner.observer import InvocationLog
    from segfn.sandbox.egress import EgressPolicy, listening_on

    if options["segment_endpoint"] and not options["write_key"]:
        raise click.UsageError("--segment-endpoint needs --write-key (or SEGFN_WRITE_KEY)")
    # A development server: handlers may fetch services on this machine, not itself.
    config = runner_config(**options, egress=lambda host, port: EgressPolicy(
        allow_loopback=True, listening=listening_on(host, port)))
    watched = WatchedSource(handler_path, settings_path, allow_get, dedup_header)
    plan = confinement(config.worker_user, required=False)
    with claimed(config.data_dir):
        # One handler, so one pool: started now, so that a broken sandbox stops the start.
        show_invocations()
        runtime = build_runtime(config, watched.resolve, plan, InvocationLog(),
                                warm=(watched.current.tenant,))
        app = create_app(runtime, watched.route, config.webhook)
        destination = (config.destination.endpoint if config.destination
                       else f"the embedded store in {runtime.store.path}")
        click.echo(click.style("segfn run", bold=True)
                   + f": {handler_path} at http://{config.host}:{config.port}/ "
                   + f"({config.workers} workers); events go to {destination}")
        interrupt_on_sigterm()
        try:
            uvloop.run(_serve(app, config, runtime, watched if reload else None))
        except KeyboardInterrupt:
            # uvicorn has already shut down gracefully; it re-raises the signal it caught.
            pass
    click.echo("segfn run: stopped; accepted work is kept in " + str(config.data_dir))


async def _serve(app: Any, config: RunnerConfig, runtime: Runtime,
                 watched: WatchedSource | None) -> None:
    server = uvicorn_server(app, config, runtime)
    watcher = asyncio.create_task(watched.watch()) if watched else None
    try:
        await server.serve()
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher


def uvicorn_server(app: Any, config: RunnerConfig, runtime: Runtime) -> Any:
    """The HTTP server for ``app`` on the configured host and port, its connections
    bounded; on a stop, ``runtime`` takes no more deliveries and drains."""
    from runner.server import http_server

    return http_server(app, config.host, config.port, config.connections,
                       on_stop=runtime.stop_taking)


def interrupt_on_sigterm() -> None:
    """SIGTERM ends the process as Ctrl-C does: gracefully, saying so, with status 0.

    uvicorn handles both while it serves, then raises the one it caught again; this is
    what SIGTERM then does (by default it would kill the process before its last line)."""
    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
