"""``segfn run``: serve one handler as a webhook on this machine."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import click

from runner.captures import KEEP_BYTES_PER_SOURCE, KEEP_PER_SOURCE, MAX_DAYS
from runner.source import Source
from segfn.cli.files import read_settings, read_text
from segfn.cli.options import runner_config, runner_options
from segfn.cli.output import InvocationLines, fail, printable
from segfn.sandbox.compiler import CompileError, Handler
from segfn.sandbox.preflight import check_handler

if TYPE_CHECKING:
    from runner.config import RunnerConfig
    from runner.runtime import Runtime
    from segfn.sandbox.confine.plan import Plan
    from segfn.sandbox.modules import ModuleRegistry

_RELOAD_POLL = 0.5
# The exit status of a start refused because the handler cannot run (as for a usage error).
CANNOT_RUN = 2


def _stamp(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:  # between an editor's delete and its write, say
        return None


def say_problems(problem: CompileError) -> None:
    """Each problem of a handler that cannot run, as ``FILE:LINE: reason`` on stderr."""
    for line, reason in problem.problems:
        click.secho(f"{problem.where(line)}: {printable(reason)}", fg="red", err=True)


class WatchedSource:
    """The one source ``segfn run`` serves, read again when its files change.

    ``problem`` says why the handler served cannot run (None when it can); an edit that
    cannot run is not served, and one that can replaces whatever was.
    """

    def __init__(self, handler_path: Path, settings_path: Path | None,
                 registry: ModuleRegistry, allow_get: bool = False,
                 capture_days: int = 0, dedup_header: str | None = None) -> None:
        self.handler_path = handler_path
        self.settings_path = settings_path
        self.registry = registry
        handler = self._handler()
        self.problem = self._check(handler)
        self.current = Source("default", handler_path.stem, handler, self._settings(),
                              allow_get=allow_get, capture_days=capture_days,
                              dedup_header=dedup_header)
        self._stamps = self._mtimes()

    def _mtimes(self) -> tuple[int | None, int | None]:
        return (_stamp(self.handler_path),
                _stamp(self.settings_path) if self.settings_path else None)

    def _handler(self) -> Handler:
        return Handler(read_text(self.handler_path, "HANDLER.py"), str(self.handler_path))

    def _settings(self) -> dict[str, Any]:
        return read_settings(self.settings_path) if self.settings_path else {}

    def _check(self, handler: Handler) -> CompileError | None:
        try:
            check_handler(handler, self.registry)
        except CompileError as problem:
            return problem
        return None

    def route(self, path: str) -> Source | None:
        return self.current if path == "/" else None

    def resolve(self, source_id: str) -> Source | None:
        return self.current if source_id == self.current.id else None

    async def watch(self) -> None:
        while True:
            await asyncio.sleep(_RELOAD_POLL)
            stamps = self._mtimes()
            missing = stamps[0] is None or (self.settings_path is not None
                                            and stamps[1] is None)
            if stamps == self._stamps or missing:
                continue
            handler_changed = stamps[0] != self._stamps[0]
            settings_changed = stamps[1] != self._stamps[1]
            self._stamps = stamps
            try:
                self.reload(handler_changed, settings_changed)
            except click.BadParameter as exc:
                click.secho(f"reload failed, still serving the previous version: "
                            f"{printable(exc.format_message())}", fg="red", err=True)

    def reload(self, handler_changed: bool, settings_changed: bool) -> None:
        """Read what changed again, and say what is served now."""
        source = self.current
        if settings_changed:
            source = attrs.evolve(source, settings=self._settings())
        if handler_changed:
            handler = self._handler()
            problem = self._check(handler)
            if problem is not None:
                say_problems(problem)
                click.secho(f"{self.handler_path} cannot run; still serving its previous "
                            "version" + (" (with the new settings)" * settings_changed),
                            fg="yellow", err=True)
            else:
                source = attrs.evolve(source, handler=handler)
                self.problem = None
                click.secho(f"reloaded {self.handler_path}"
                            + (" and the settings" * settings_changed), fg="yellow")
        elif settings_changed:
            click.secho(f"settings reloaded from {self.settings_path}", fg="yellow")
        self.current = source


def listen(host: str, port: int) -> socket.socket:
    """The webhook's socket, bound before anything starts: a port in use stops the start,
    saying so."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                         socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise click.ClickException(
                f"port {port} on {host} is in use (by another segfn run?); serve on "
                "another with --port") from None
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}"
                                   ) from None
    return sock


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
@click.option("--quiet", is_flag=True,
              help="Print one line an invocation, without the handler's console lines.")
@click.option("--capture-days", default=0, show_default=True, metavar="N",
              type=click.IntRange(0, MAX_DAYS),
              help="Keep each delivery N days in --data-dir, for segfn deliveries and "
                   f"segfn replay (at most {KEEP_PER_SOURCE:,} deliveries or "
                   f"{KEEP_BYTES_PER_SOURCE // 2**20} MB, the oldest dropped first); "
                   "0: keep none.")
@click.option("--dedup-header", metavar="NAME", callback=_header_name,
              help="A header in which the provider names each delivery: a redelivery "
                   "within 24 h is answered, not run again (webhook-id, X-GitHub-Delivery, "
                   "X-Shopify-Webhook-Id and Idempotency-Key always are).")
@runner_options(data_dir=Path(".segfn"), rate_limit=0)
def run(handler_path: Path, settings_path: Path | None, reload: bool, allow_get: bool,
        quiet: bool, capture_days: int, dedup_header: str | None, **options: Any) -> None:
    """Serve HANDLER.py as a webhook at POST http://HOST:PORT/.

    Each delivery prints a line, with the handler's console and print lines under it;
    a delivery refused before the handler ran (405, 413, 415, 429) prints one too.
    Sandbox workers are confined as far as this machine allows; what it does not allow is
    said at start.
    """
    # Imported here, not at the top: the service's dependencies would slow every other
    # command's start-up (segfn invoke runs once per call in scripts and CI).
    from segfn.sandbox.egress import EgressPolicy, listening_on
    from segfn.sandbox.execute import sandbox_registry

    if options["segment_endpoint"] and not options["write_key"]:
        raise click.UsageError("--segment-endpoint needs --write-key (or SEGFN_WRITE_KEY)")
    with contextlib.closing(listen(options["host"], options["port"])) as sock:
        # With --port 0 the system chooses: the banner and the fetch policy name its choice.
        options["port"] = sock.getsockname()[1]
        # A development server: handlers may fetch services on this machine, not itself.
        config = runner_config(**options, egress=lambda host, port: EgressPolicy(
            allow_loopback=True, listening=listening_on(host, port)))
        watched = WatchedSource(handler_path, settings_path, sandbox_registry(config.modules),
                                allow_get, capture_days, dedup_header)
        if watched.problem is not None:
            say_problems(watched.problem)
            if not reload:
                fail(f"{handler_path} cannot run, so it is not served; fix it and start "
                     "again (with --reload, segfn run serves it and picks up the fix)")
                raise click.exceptions.Exit(CANNOT_RUN)
            click.secho(f"{handler_path} cannot run: deliveries fail with InvalidSettings "
                        "until it is fixed", fg="yellow", err=True)
        _run(config, watched, sock, reload, quiet)
    click.echo("segfn run: stopped; accepted work is kept in " + str(config.data_dir))


def _run(config: RunnerConfig, watched: WatchedSource, sock: socket.socket, reload: bool,
         quiet: bool) -> None:
    import uvloop

    from runner.app import create_app
    from runner.config import build_runtime

    plan = confinement(config.worker_user, required=False)
    with claimed(config.data_dir):
        # One handler, so one pool: started now, so that a broken sandbox stops the start.
        runtime = build_runtime(config, watched.resolve, plan, InvocationLines(logs=not quiet),
                                warm=(watched.current.tenant,))
        app = create_app(runtime, watched.route, config.webhook)
        destination = (config.destination.endpoint if config.destination
                       else f"the embedded store in {runtime.store.where}")
        click.echo(click.style("segfn run", bold=True)
                   + f": {watched.handler_path} at http://{config.host}:{config.port}/ "
                   + f"({config.workers} workers); events go to {destination}")
        interrupt_on_sigterm()
        try:
            uvloop.run(_serve(app, config, runtime, sock, watched if reload else None))
        except KeyboardInterrupt:
            # uvicorn has already shut down gracefully; it re-raises the signal it caught.
            pass


async def _serve(app: Any, config: RunnerConfig, runtime: Runtime, sock: socket.socket,
                 watched: WatchedSource | None) -> None:
    server = uvicorn_server(app, config, runtime)
    watcher = asyncio.create_task(watched.watch()) if watched else None
    try:
        await server.serve(sockets=[sock])
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher


def uvicorn_server(app: Any, config: RunnerConfig, runtime: Runtime) -> Any:
    """The HTTP server for ``app`` on the configured host and port, its connections
    bounded, in a process tuned to serve; on a stop, ``runtime`` takes no more deliveries
    and drains."""
    from runner.server import http_server, tune_interpreter

    tune_interpreter()
    return http_server(app, config.host, config.port, config.connections,
                       on_stop=runtime.stop_taking)


def interrupt_on_sigterm() -> None:
    """SIGTERM ends the process as Ctrl-C does: gracefully, saying so, with status 0.

    uvicorn handles both while it serves, then raises the one it caught again; this is
    what SIGTERM then does (by default it would kill the process before its last line)."""
    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
