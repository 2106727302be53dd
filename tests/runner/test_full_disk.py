"""A full disk, or a cache that cannot open, is the runner's fault: writes fail alone and
loudly, webhooks are answered 503 with Retry-After, and delivery resumes when there is room."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from runner import delivery, events
from runner.app import create_app
from runner.delivery import Destination
from runner.metrics import Metrics
from runner.runtime import Runtime
from runner.source import Source
from runner.store import Store
from segfn.sandbox.compiler import Handler
from segfn.sandbox.egress import Egress, EgressPolicy
from segfn.sandbox.fleet import Fleet
from segfn.sandbox.invocation import Result, new_invocation_id
from segfn.sandbox.pool import WorkerPool
from tests.runner.destination import Answer, FaultyDestination
from tests.runner.disk import SmallDisk, small_disk
from tests.runner.test_delivery_faults import drain, ns, save, track
from tests.stored import connect, peek

HANDLER = '''
def on_request(request, settings):
    Segment.track({"event": "Hit", "userId": "u", "properties": {"n": request.json()["n"]}})
'''
CACHING = '''
def on_request(request, settings):
    cache.load("k", 1000, lambda: 1)
    Segment.track({"event": "Hit", "userId": "u"})
'''


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[SmallDisk]:
    with small_disk(tmp_path / "disk") as mounted:
        yield mounted
        mounted.free()


def test_a_full_disk_fails_the_writes_alone_and_reads_go_on(disk: SmallDisk) -> None:
    store = Store(disk.path / "segfn.db")
    try:
        save(store, "wk_a", 1)
        disk.fill()

        async def during_the_fill() -> tuple[list[object], list[int]]:
            writes = [Result(messages=[track(n)]) for n in range(5)]
            outcomes = await asyncio.wait_for(asyncio.gather(*[store.run(
                lambda db, r=r: events.save_result(db, "src_a", new_invocation_id(), r,
                                                   outbox=True))
                for r in writes], return_exceptions=True), timeout=10)
            read = await store.read(lambda db: [r[0] for r in db.execute(
                sa.text("SELECT id FROM outbox"))])
            return outcomes, read

        outcomes, read = asyncio.run(during_the_fill())
        assert all(full(o) for o in outcomes), outcomes
        assert read == [1]
        disk.free()
        save(store, "wk_a", 2)
        assert len(asyncio.run(store.read(lambda db: db.execute(
            sa.text("SELECT id FROM outbox")).all()))) == 2
    finally:
        store.close()


def test_delivery_survives_a_full_disk_and_resumes_by_itself(
        disk: SmallDisk, destination: FaultyDestination,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delivery, "FIRST_BACKOFF", 0.1)
    store = Store(disk.path / "segfn.db")
    errors: list[BaseException] = []
    seen_failing: list[bool] = []
    try:
        save(store, "wk_a", 1, 2, 3)
        disk.fill()

        def free_later() -> None:
            time.sleep(1.5)
            disk.free()
            save(store, "wk_a", 4)

        deliverer = None

        def delivered() -> bool:
            return sorted(ns(destination.taken)) == [1, 2, 3, 4] and not count(store)

        deliverer = drain(store, destination.url, delivered, during=free_later,
                          on_error=errors.append)
        seen_failing.append(deliverer.failing)
    finally:
        store.close()
    # The deletes after the 2xx failed: the batch waited for room, and was not sent again.
    assert errors and all(full(e) for e in errors)
    assert ns(destination.taken) == [1, 2, 3, 4]
    assert seen_failing == [False]


def full(error: object) -> bool:
    """SQLite's refusal of a write, as SQLAlchemy passes it on."""
    return (isinstance(error, sa.exc.OperationalError)
            and isinstance(error.orig, sqlite3.OperationalError))


def count(store: Store) -> int:
    return peek(store, lambda db: db.execute(sa.text("SELECT COUNT(*) FROM outbox"))
                .scalar_one())


def _app(data_dir: Path, code: str) -> tuple[Runtime, object]:
    source = Source("src_1", "fn", Handler(code))
    runtime = Runtime(data_dir, Fleet(lambda _: WorkerPool(1), 1), Egress(EgressPolicy()),
                      lambda _: source)
    return runtime, create_app(runtime, lambda path: source if path == "/" else None)


def test_a_full_disk_answers_503_with_retry_after(disk: SmallDisk) -> None:
    runtime, app = _app(disk.path / "data", HANDLER)
    with TestClient(app) as client:
        assert client.post("/", json={"n": 1}).status_code == 200
        disk.fill()
        answer = client.post("/", json={"n": 2})
        assert answer.status_code == 503, answer.text
        assert int(answer.headers["retry-after"]) > 0
        assert answer.json()["error"]["type"] == "Unavailable"
        disk.free()
        assert client.post("/", json={"n": 3}).status_code == 200
    stored = [json.loads(r[0])["properties"]["n"] for r in connect(
        disk.path / "data" / "segfn.db").execute("SELECT message FROM events")]
    assert stored == [1, 3]


def test_a_cache_that_cannot_open_answers_503(tmp_path: Path) -> None:
    (tmp_path / "cache").write_text("not a directory")
    runtime, app = _app(tmp_path, CACHING)
    with TestClient(app) as client:
        answer = client.post("/", json={"n": 1})
        assert answer.status_code == 503, answer.text
        assert int(answer.headers["retry-after"]) > 0
    # Not the sender's fault, so not in the errors log as a failed invocation either.
    assert not connect(tmp_path / "segfn.db").execute("SELECT * FROM errors").fetchall()


def test_a_sandbox_that_cannot_start_answers_503_and_recovers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime, app = _app(tmp_path, HANDLER)
    python = sys.executable
    with TestClient(app) as client:
        monkeypatch.setattr(sys, "executable", "/bin/false")  # workers exit before ready
        answer = client.post("/", json={"n": 1})
        assert answer.status_code == 503, answer.text
        assert int(answer.headers["retry-after"]) > 0
        assert answer.json()["error"]["type"] == "Unavailable"
        monkeypatch.setattr(sys, "executable", python)
        assert client.post("/", json={"n": 2}).status_code == 200
    db = connect(tmp_path / "segfn.db")
    assert not db.execute("SELECT * FROM errors").fetchall()
    assert not db.execute("SELECT * FROM retries").fetchall()
    assert [json.loads(r[0])["properties"]["n"]
            for r in db.execute("SELECT message FROM events")] == [2]


def test_healthz_names_the_failing_loop_until_the_disk_has_room(
        disk: SmallDisk, destination: FaultyDestination,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delivery, "FIRST_BACKOFF", 0.1)
    source = Source("src_1", "fn", Handler(HANDLER))
    metrics = Metrics(disk.path / "data" / "segfn.db")
    runtime = Runtime(disk.path / "data", Fleet(lambda _: WorkerPool(1), 1),
                      Egress(EgressPolicy()), lambda _: source,
                      Destination(destination.url, "wk"), observer=metrics)
    app = create_app(runtime, lambda path: source if path == "/" else None)
    with TestClient(app) as client:
        # Taken by the destination, then the disk fills before the rows are deleted.
        destination.default = Answer(200, stall=0.5)
        assert client.post("/", json={"n": 1}).status_code == 200
        disk.fill()
        health = wait_for(client, 503)
        assert health.json() == {"ok": False, "status": "degraded", "down": ["delivery"]}
        assert 'segfn_loop_failures_total{loop="delivery"}' in metrics.render().decode()
        destination.default = Answer()
        disk.free()
        wait_for(client, 200)
        assert client.post("/", json={"n": 2}).status_code == 200
        deadline = time.monotonic() + 10
        while ns(destination.taken) != [1, 2]:
            assert time.monotonic() < deadline, destination.statuses()
            time.sleep(0.05)


def wait_for(client: TestClient, status: int) -> Any:
    deadline = time.monotonic() + 15
    while (answer := client.get("/healthz")).status_code != status:
        assert time.monotonic() < deadline, f"/healthz never answered {status}"
        time.sleep(0.02)
    return answer
