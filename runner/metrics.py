"""Prometheus metrics for the service: invocations, their durations, queues and failures.

Counters live in memory, in a registry of each ``Metrics`` own (never the global one, so
two runtimes in one process, or two tests, do not add up). The queue depths are read from
the database at scrape time instead, so they are right after a restart too (on PostgreSQL
they are the fleet's, every node's queue together).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from runner.db import engine as engines
from runner.db import schema
from runner.observer import Observer
from runner.runtime import Outcome
from runner.source import Names, Source

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Handlers take from about a millisecond to the 10 s an invocation may last at most.
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    10.0)

_DEPTHS = {
    "segfn_retries_queued": ("retries", "Invocations waiting in the retry queue."),
    "segfn_outbox_depth": ("outbox", "Messages waiting to be sent to the Tracking API."),
}


def count_rows(engine: sa.Engine | None) -> dict[str, int]:
    """Rows in ``retries`` and ``outbox``; 0 for a database (None) or table not there yet."""
    counts = {table: 0 for table, _ in _DEPTHS.values()}
    if engine is None:
        return counts
    with engine.connect().execution_options(**{engines.READING: True}) as db:
        present = set(sa.inspect(db).get_table_names())
        for table in counts:
            # The runtime may not have made its schema yet.
            if table in present:
                counts[table] = int(db.execute(sa.select(sa.func.count()).select_from(
                    schema.metadata.tables[table])).scalar_one())
    return counts


class _Depths(Collector):
    """The queue depth gauges, counted in the database whenever they are scraped."""

    def __init__(self, database: Path | str) -> None:
        self._url = engines.url_of(database)
        self._engine: sa.Engine | None = None

    def _opened(self) -> sa.Engine | None:
        """The engine scrapes read through; None while a SQLite file does not exist."""
        if self._engine is None and self._url.get_backend_name() == "sqlite":
            path = Path(str(self._url.database))
            if not path.exists():
                return None
            # Read-only, so a scrape never creates the file or takes the writer's lock.
            self._engine = sa.create_engine(
                f"sqlite+pysqlite:///file:{path.resolve()}?mode=ro&uri=true",
                poolclass=sa.pool.NullPool, connect_args={"timeout": 5})
        elif self._engine is None:
            self._engine = engines.create(self._url, pool_size=1, max_overflow=0)
        return self._engine

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Without this the registry would collect, and so read the file, on registering.
        for name, (_, doc) in _DEPTHS.items():
            yield GaugeMetricFamily(name, doc)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        counts = count_rows(self._opened())
        for name, (table, doc) in _DEPTHS.items():
            yield GaugeMetricFamily(name, doc, value=counts[table])


class Metrics(Observer):
    """The service's metrics, over the runtime's database (a SQLite file's path or a URL);
    the runtime's observer (``runner.observer``) feeds them."""

    def __init__(self, database: Path | str) -> None:
        self.database = database
        self.registry = CollectorRegistry()
        self._invocations = Counter(
            "segfn_invocations_total", "Invocations, retries included, by how they ended.",
            ["workspace", "function", "source", "outcome"], registry=self.registry)
        self._durations = Histogram(
            "segfn_invocation_duration_seconds", "How long the handler ran.",
            ["workspace", "function", "source"], buckets=DURATION_BUCKETS,
            registry=self.registry)
        self._delivery_failures = Counter(
            "segfn_delivery_failures_total",
            "Sends to the Tracking API that did not take the batch.",
            ["reason"], registry=self.registry)
        self._loop_failures = Counter(
            "segfn_loop_failures_total",
            "Failures the background loops (delivery, retries) survived or restarted after.",
            ["loop"], registry=self.registry)
        self._refusals = Counter(
            "segfn_webhook_refusals_total",
            "Webhook deliveries refused before any handler ran.",
            ["status"], registry=self.registry)
        self.registry.register(_Depths(self.database))
        # Each source's counter and histogram children, by how the invocation ended: the
        # registry's own lookup by label values took a lock and built its key each time.
        self._children: dict[tuple[Names, str], tuple[Any, Any]] = {}

    def invoked(self, source: Source, outcome: Outcome) -> None:
        """Count and time one invocation."""
        result = outcome.result
        kind = "ok" if result.error is None else result.error.type
        counted = self._children.get((source.names, kind))
        if counted is None:
            # Names, as people read them; a workspace's names are its own, hence the workspace.
            names = source.names
            labels = (names.workspace, names.function, names.source)
            counted = (self._invocations.labels(*labels, kind), self._durations.labels(*labels))
            # The registry keeps every child anyway: this holds no more than it does.
            self._children[(names, kind)] = counted
        counted[0].inc()
        counted[1].observe(result.duration_ms / 1000)

    def delivery_failed(self, reason: str) -> None:
        """Count a failed send."""
        self._delivery_failures.labels(reason).inc()

    def loop_failed(self, loop: str) -> None:
        """Count a background loop's failure."""
        self._loop_failures.labels(loop).inc()

    def refused(self, status: int, error_type: str, message: str) -> None:
        """Count a delivery refused before it ran (404, 413, 429, 503 when paused, ...)."""
        self._refusals.labels(str(status)).inc()

    def render(self) -> bytes:
        """The exposition text to answer a scrape with, as ``CONTENT_TYPE``."""
        return generate_latest(self.registry)
