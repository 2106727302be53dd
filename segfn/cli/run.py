"""``segfn run``: serve one handler as a webhook on this machine."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from runner.source import Source
from segfn.cli.files import read_settings
from segfn.cli.invoke import modules_option
from segfn.cli.output import print_outcome
from segfn.sandbox.compiler import Handler
from segfn.sandbox.webhook import STALL_SECONDS

if TYPE_CHECKING:
    from segfn.sandbox.confine.plan import Plan

_RELOAD_POLL = 0.5
F = TypeVar("F", bound=Callable[..., Any])


class WatchedSource:
    """The one source ``segfn run`` serves, read again when its files change."""

    def __init__(self, handler_path: Path, settings_path: Path | None) -> None:
        self.handler_path = handler_path
        self.settings_path = settings_path
        self.current = self._load()
        self._stamp = self._mtimes()

    def _mtimes(self) -> tuple[float, ...]:
        paths = [self.handler_path] + ([self.settings_path] if self.settings_path else [])
        return tuple(p.stat().st_mtime for p in paths if p.exists())

    def _load(self) -> Source:
        settings = read_settings(str(self.settings_path)) if self.settings_path else {}
        handler = Handler(self.handler_path.read_text("utf-8"), self.handler_path.name)
        return Source("default", self.handler_path.stem, handler, settings)

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


def execution_options(command: F) -> F:
    """The options ``segfn run`` and ``segfn serve`` share: retries, limits, modules, the
    workers' user."""
    for option in reversed([
        click.option("--retry-time-scale", default=1.0, show_default=True,
                     type=click.FloatRange(min=0), help="Multiply every retry wait by this."),
        click.option("--timeout", default=5.0, show_default=True,
                     type=click.FloatRange(min=0.1),
                     help="Wall-clock limit per invocation, in seconds."),
        click.option("--read-timeout", default=STALL_SECONDS, show_default=True,
                     type=click.FloatRange(min=0.1),
                     help="Seconds a sender may stall while sending the body (then 408)."),
        modules_option,
        click.option("--worker-user", default="nobody", show_default=True,
                     metavar="USER[:GID]",
                     help="The unprivileged user (a name or a uid) sandbox workers run as "
                          "when this runs as root; a uid of their own is best."),
    ]):
        command = option(command)
    return command


@click.command()
@click.argument("handler_path", metavar="HANDLER.py",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--settings", "settings_path", metavar="FILE",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Setting values, a JSON object.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option("--data-dir", default=".segfn", show_default=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Where events, retries and the errors log are kept.")
@click.option("--reload", is_flag=True, help="Reload the handler and settings when they change.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64),
              help="Sandbox worker processes.")
@click.option("--segment-endpoint", envvar="SEGFN_SEGMENT_ENDPOINT", metavar="URL",
              help="A Segment-compatible Tracking API; events go to the local store without.")
@click.option("--write-key", envvar="SEGFN_WRITE_KEY", help="The write key for the endpoint.")
@click.option("--rate-limit", type=click.FloatRange(min=0, min_open=True), metavar="N",
              help="Requests per second per source (off by default).")
@execution_options
def run(handler_path: Path, settings_path: Path | None, host: str, port: int, data_dir: Path,
        reload: bool, workers: int, segment_endpoint: str | None, write_key: str | None,
        rate_limit: float | None, retry_time_scale: float, timeout: float,
        read_timeout: float, modules: dict[str, list[str]], worker_user: str) -> None:
    """Serve HANDLER.py as a webhook at POST http://HOST:PORT/.

    Sandbox workers are confined as far as this machine allows; what it does not allow is
    said at start.
    """
    # Imported here, not at the top: the service's dependencies would slow every other
    # command's start-up (segfn invoke runs once per call in scripts and CI).
    import uvloop

    from runner.app import create_app
    from runner.delivery import Destination
    from runner.endpoint import WebhookLimits
    from runner.retries import RetryPolicy
    from runner.runtime import Runtime
    from segfn.sandbox.egress import Egress, EgressPolicy, listening_on
    from segfn.sandbox.fleet import Fleet
    from segfn.sandbox.pool import Limits, WorkerPool

    if segment_endpoint and not write_key:
        raise click.UsageError("--segment-endpoint needs --write-key (or SEGFN_WRITE_KEY)")
    watched = WatchedSource(handler_path, settings_path)
    plan = confinement(worker_user, required=False)
    with claimed(data_dir):
        runtime = Runtime(
            data_dir,
            # One handler, so one pool: started now, so that a broken sandbox stops the start.
            Fleet(lambda tenant: WorkerPool(workers, Limits(timeout=timeout), modules,
                                            plan=plan),
                  max_workers=workers, warm=(watched.current.tenant,)),
            # A development server: handlers may fetch services on this machine, not itself.
            Egress(EgressPolicy(allow_loopback=True, listening=listening_on(host, port))),
            watched.resolve,
            Destination(segment_endpoint, write_key or "") if segment_endpoint else None,
            RetryPolicy(scale=retry_time_scale), listener=print_outcome)
        limits = WebhookLimits(stall_seconds=read_timeout, rate_limit=rate_limit)
        app = create_app(runtime, watched.route, limits)
        destination = segment_endpoint or f"the embedded store in {runtime.store.path}"
        click.echo(click.style("segfn run", bold=True)
                   + f": {handler_path} at http://{host}:{port}/ ({workers} workers); "
                   + f"events go to {destination}")
        try:
            uvloop.run(_serve(app, host, port, watched if reload else None))
        except KeyboardInterrupt:
            # uvicorn has already shut down gracefully; it re-raises the signal it caught.
            pass
    click.echo("segfn run: stopped; accepted work is kept in " + str(data_dir))


async def _serve(app: Any, host: str, port: int, watched: WatchedSource | None) -> None:
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                           lifespan="on", timeout_graceful_shutdown=10))
    watcher = asyncio.create_task(watched.watch()) if watched else None
    try:
        await server.serve()
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
