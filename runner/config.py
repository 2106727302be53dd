"""A runner's configuration: one frozen value, built once (by ``segfn run`` or ``segfn
serve`` from their options and the environment) and read by whatever the runner starts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from runner.delivery import Destination
from runner.endpoint import WebhookLimits
from runner.errorlog import PLAIN_TEXT, Sealer
from runner.leases import Lease
from runner.observer import Observer
from runner.retries import RetryPolicy
from runner.runtime import Resolver, Runtime
from runner.server import ConnectionLimits
from segfn.sandbox.egress import Egress, EgressPolicy
from segfn.sandbox.fleet import Fleet
from segfn.sandbox.pool import Limits, WorkerPool

if TYPE_CHECKING:
    from segfn.sandbox.confine.plan import Plan
    from segfn.sandbox.fleet import Tenant


def _at_least_workers(config: RunnerConfig, attribute: Any, value: int) -> None:
    if value < config.workers:
        raise ValueError(f"max_workers ({value}) must be at least workers "
                         f"({config.workers}), the workers of one function")


@attrs.frozen
class RunnerConfig:
    """Where the runner listens and keeps its data, how many workers run handlers under
    which limits, how deliveries are throttled and retried, what handlers may import and
    fetch, and where their messages go (``None``: the embedded store). ``database`` is a
    URL of the shared state (PostgreSQL for a fleet); None keeps it in the data dir."""

    data_dir: Path = attrs.field(converter=Path)
    database: str | None = None
    host: str = "127.0.0.1"
    port: int = attrs.field(default=8080, validator=[attrs.validators.ge(0),
                                                     attrs.validators.le(65535)])
    # Workers of each function; ``max_workers`` of all functions together.
    workers: int = attrs.field(default=2, validator=attrs.validators.ge(1))
    max_workers: int = attrs.field(
        default=attrs.Factory(lambda config: config.workers, takes_self=True),
        validator=_at_least_workers)
    limits: Limits = Limits()
    webhook: WebhookLimits = WebhookLimits()
    retry: RetryPolicy = RetryPolicy()
    modules: Mapping[str, Sequence[str]] = attrs.field(factory=dict)
    worker_user: str = "nobody"
    egress: EgressPolicy = EgressPolicy()
    destination: Destination | None = None
    connections: ConnectionLimits = ConnectionLimits()
    # This node's name and how long it holds outbox rows and retries it claims.
    lease: Lease = attrs.field(factory=Lease)


def build_runtime(config: RunnerConfig, resolve: Resolver, plan: Plan | None = None,
                  observer: Observer | None = None,
                  warm: Sequence[Tenant] = (),
                  sealer: Sealer | None = PLAIN_TEXT) -> Runtime:
    """The runtime ``config`` describes; ``plan`` says how workers are confined, ``warm``
    which tenants' pools start with it (so that a broken sandbox stops the start), ``sealer``
    how the errors log keeps requests it redacted (see runner/errorlog.py)."""
    fleet = Fleet(lambda tenant: WorkerPool(config.workers, config.limits, config.modules,
                                            plan=plan),
                  config.max_workers, warm=warm)
    return Runtime(config.data_dir, fleet, Egress(config.egress), resolve,
                   config.destination, config.retry, observer, sealer,
                   database=config.database, lease=config.lease)
