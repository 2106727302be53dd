"""The options ``segfn run`` and ``segfn serve`` share, declared once, and the
``runner.config.RunnerConfig`` built from them.

A shared option is a decorator in ``runner_options`` and a line in ``runner_config``;
both commands then take it, with the same meaning.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from segfn.cli.invoke import modules_option
from segfn.sandbox.webhook import HEADER_TIMEOUT, MAX_CONNECTIONS, STALL_SECONDS

if TYPE_CHECKING:
    from runner.config import RunnerConfig
    from runner.leases import Lease
    from segfn.sandbox.egress import EgressPolicy

F = TypeVar("F", bound=Callable[..., Any])


def runner_options(*, data_dir: Path | None, rate_limit: float) -> Callable[[F], F]:
    """The shared options; ``data_dir`` is the default of --data-dir (None: required),
    ``rate_limit`` that of --rate-limit (0: off)."""
    options = [
        click.option("--data-dir", default=data_dir, required=data_dir is None,
                     show_default=data_dir is not None,
                     type=click.Path(file_okay=False, path_type=Path),
                     help="Where events, retries and the errors log are kept."),
        click.option("--host", default="127.0.0.1", show_default=True,
                     help="The address to listen on; 0.0.0.0 for every interface."),
        click.option("--port", default=8080, show_default=True,
                     type=click.IntRange(0, 65535),
                     help="The port to listen on; 0 picks a free one."),
        click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64),
                     help="Sandbox worker processes of each function that runs."),
        click.option("--segment-endpoint", envvar="SEGFN_SEGMENT_ENDPOINT", metavar="URL",
                     help="A Segment-compatible Tracking API; events go to the embedded "
                          "store without."),
        click.option("--write-key", envvar="SEGFN_WRITE_KEY",
                     help="The write key of messages from sources that have none of "
                          "their own."),
        click.option("--rate-limit", default=rate_limit, show_default=True,
                     type=click.FloatRange(min=0), metavar="N",
                     help="Requests per second per source; 0 turns the limit off."),
        click.option("--retry-time-scale", default=1.0, show_default=True,
                     type=click.FloatRange(min=0), help="Multiply every retry wait by this."),
        click.option("--timeout", default=5.0, show_default=True,
                     type=click.FloatRange(min=0.1),
                     help="Wall-clock limit per invocation, in seconds."),
        click.option("--read-timeout", default=STALL_SECONDS, show_default=True,
                     type=click.FloatRange(min=0.1),
                     help="Seconds a sender may stall while sending the body (then 408)."),
        click.option("--header-timeout", default=HEADER_TIMEOUT, show_default=True,
                     type=click.FloatRange(min=0.1),
                     help="Seconds a connection may take to send its first request's "
                          "headers (then it is closed)."),
        click.option("--max-connections", default=MAX_CONNECTIONS, show_default=True,
                     type=click.IntRange(min=1),
                     help="Connections and requests at once; past it, requests are "
                          "answered 503."),
        modules_option,
        click.option("--worker-user", default="nobody", show_default=True,
                     metavar="USER[:GID]",
                     help="The unprivileged user (a name or a uid) sandbox workers run as "
                          "when this runs as root; a uid of their own is best."),
    ]

    def decorate(command: F) -> F:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def runner_config(*, data_dir: Path, host: str, port: int, workers: int,
                  segment_endpoint: str | None, write_key: str | None, rate_limit: float,
                  retry_time_scale: float, timeout: float, read_timeout: float,
                  header_timeout: float, max_connections: int,
                  modules: dict[str, list[str]], worker_user: str,
                  egress: Callable[[str, int], EgressPolicy],
                  max_workers: int | None = None, database: str | None = None,
                  lease: Lease | None = None) -> RunnerConfig:
    """The configuration the shared options (passed by name) say; ``egress`` makes the
    fetch policy for the host and port listened on, which each command decides."""
    from runner.config import RunnerConfig
    from runner.delivery import Destination
    from runner.endpoint import WebhookLimits
    from runner.retries import RetryPolicy
    from runner.server import ConnectionLimits
    from segfn.sandbox.pool import Limits

    try:
        return RunnerConfig(
            data_dir=data_dir, database=database, host=host, port=port, workers=workers,
            max_workers=workers if max_workers is None else max_workers,
            limits=Limits(timeout=timeout),
            webhook=WebhookLimits(stall_seconds=read_timeout, rate_limit=rate_limit or None),
            retry=RetryPolicy(scale=retry_time_scale), modules=modules,
            worker_user=worker_user,
            connections=ConnectionLimits(header_timeout, max_connections),
            egress=egress(host, port),
            destination=(Destination(segment_endpoint, write_key or "") if segment_endpoint
                         else None),
            **({} if lease is None else {"lease": lease}))
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
