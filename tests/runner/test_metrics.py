"""Prometheus metrics: counts from observed outcomes, depths from the real SQLite file."""

from __future__ import annotations

import asyncio
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from runner import events, retries
from runner.metrics import CONTENT_TYPE, Metrics
from runner.runtime import Outcome
from runner.source import Names, Source
from runner.store import Store
from segfn import errors
from segfn.sandbox.compiler import Handler
from segfn.sandbox.invocation import HttpRequest, Result

# Labelled by name (workspace, function, source), never by id.
BILLING = Source("src_1", "fn_1", Handler("def on_request(request, settings): pass"),
                 workspace="ws_1", names=Names("acme", "billing", "prod"))
SHOP = Source("src_2", "fn_2", Handler("def on_request(request, settings): pass"),
              workspace="ws_1", names=Names("acme", "shop", "orders"))


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition text: (name, sorted labels) -> value."""
    text = metrics.render().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def ok(ms: float) -> Outcome:
    return Outcome(200, Result(messages=[{"type": "track"}], duration_ms=ms), "inv_ok")


def failed(kind: str, status: int, ms: float, attempt: int = 0) -> Outcome:
    return Outcome(status, Result.failed(kind, "no", duration_ms=ms), "inv_x", attempt)


def fill(path: Path) -> None:
    """Two queued retries and three outbox rows, written as the runtime writes them."""
    store = Store(path)

    def change(db) -> None:
        for n in range(2):
            retries.schedule(db, retries.RetryPolicy(), invocation_id=f"inv_{n}",
                             source=BILLING.id, request=HttpRequest(b"{}"), attempt=1,
                             first_wait=60.0, error="Retry: later")
        result = Result(messages=[{"type": "track", "event": str(n)} for n in range(3)])
        events.save_result(db, BILLING.id, "inv_9", result, outbox=True, write_key="wk")
        # Without the outbox, messages go to the event store: not a delivery backlog.
        events.save_result(db, BILLING.id, "inv_10", result, outbox=False)

    try:
        asyncio.run(store.run(change))
    finally:
        store.close()


def test_counts_durations_and_depths(tmp_path: Path) -> None:
    path = tmp_path / "segfn.db"
    fill(path)
    metrics = Metrics(path)
    metrics.invoked(BILLING, ok(2.0))
    metrics.invoked(BILLING, ok(40.0))
    metrics.invoked(BILLING, failed(errors.RETRY, 202, 3000.0))
    metrics.invoked(BILLING, failed(errors.RETRY, 202, 5.0, attempt=1))  # a retry's run
    metrics.invoked(SHOP, failed(errors.BAD_REQUEST, 400, 0.5))
    metrics.delivery_failed("status 503")
    metrics.delivery_failed("status 503")
    metrics.delivery_failed("network")
    metrics.refused(503, "SourcePaused", "this source is paused")

    got = samples(metrics)
    inv = "segfn_invocations_total"
    assert got[(inv, (("function", "billing"), ("outcome", "ok"), ("source", "prod"),
                      ("workspace", "acme")))] == 2
    assert got[(inv, (("function", "billing"), ("outcome", "Retry"), ("source", "prod"),
                      ("workspace", "acme")))] == 2
    assert got[(inv, (("function", "shop"), ("outcome", "BadRequest"),
                      ("source", "orders"), ("workspace", "acme")))] == 1
    assert sum(v for (name, _), v in got.items() if name == inv) == 5

    billing = (("function", "billing"), ("source", "prod"), ("workspace", "acme"))
    hist = "segfn_invocation_duration_seconds"
    assert got[(hist + "_count", billing)] == 4
    assert abs(got[(hist + "_sum", billing)] - 3.047) < 1e-9
    buckets = {le: got[(hist + "_bucket", (("function", "billing"), ("le", le),
                                           ("source", "prod"), ("workspace", "acme")))]
               for le in ("0.001", "0.0025", "0.05", "2.5", "5.0", "10.0", "+Inf")}
    assert buckets == {"0.001": 0, "0.0025": 1, "0.05": 3, "2.5": 3, "5.0": 4, "10.0": 4,
                       "+Inf": 4}
    assert got[(hist + "_count", (("function", "shop"), ("source", "orders"),
                                  ("workspace", "acme")))] == 1

    assert got[("segfn_retries_queued", ())] == 2
    assert got[("segfn_outbox_depth", ())] == 3
    assert got[("segfn_delivery_failures_total", (("reason", "status 503"),))] == 2
    assert got[("segfn_delivery_failures_total", (("reason", "network"),))] == 1
    assert got[("segfn_webhook_refusals_total", (("status", "503"),))] == 1
    assert CONTENT_TYPE.startswith("text/plain")


def test_depths_are_read_at_scrape_time(tmp_path: Path) -> None:
    path = tmp_path / "data" / "segfn.db"
    metrics = Metrics(path)
    # No file yet: zero, and the scrape does not create one.
    assert samples(metrics)[("segfn_outbox_depth", ())] == 0
    assert samples(metrics)[("segfn_retries_queued", ())] == 0
    assert not path.exists()
    fill(path)
    assert samples(metrics)[("segfn_outbox_depth", ())] == 3
    assert samples(metrics)[("segfn_retries_queued", ())] == 2
    # A new instance, as after a restart, sees the same queues.
    assert samples(Metrics(path))[("segfn_retries_queued", ())] == 2


def test_instances_do_not_share_counts(tmp_path: Path) -> None:
    first, second = Metrics(tmp_path / "a.db"), Metrics(tmp_path / "b.db")
    first.invoked(BILLING, ok(1.0))
    first.delivery_failed("network")
    key = ("segfn_invocations_total",
           (("function", "billing"), ("outcome", "ok"), ("source", "prod"), ("workspace", "acme")))
    assert samples(first)[key] == 1
    assert key not in samples(second)
    assert ("segfn_delivery_failures_total", (("reason", "network"),)) not in samples(second)
    second.invoked(BILLING, ok(1.0))
    assert samples(first)[key] == 1
    assert samples(second)[key] == 1
