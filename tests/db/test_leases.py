"""Leases on the outbox and the retries, on both backends (runner/leases.py): a row is
claimed by one node at a time, a lapsed lease is any node's, and a retry keeps its attempt
and schedule when another node takes it over."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from runner import retries
from runner.db import schema
from runner.delivery import delete_rows, take_batch
from runner.leases import Lease
from runner.store import open_database
from segfn.sandbox.invocation import HttpRequest

REQUEST = HttpRequest(method="POST", url="https://hooks.example/fn/x", headers={},
                      body=b'{"n": 1}')
POLICY = retries.RetryPolicy(scale=0.0)  # every retry due at once


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    opened = open_database(database_url)
    yield opened
    opened.dispose()


def queue_retries(engine: sa.Engine, count: int) -> None:
    with engine.begin() as db:
        for n in range(count):
            retries.schedule(db, POLICY, invocation_id=f"inv-{n}", source="src",
                             request=REQUEST, attempt=2, first_wait=90.0, error="Retry: later")


def fill_outbox(engine: sa.Engine, count: int) -> None:
    with engine.begin() as db:
        db.execute(schema.outbox.insert(), [
            {"message": f'{{"n": {n}}}', "created_at": 0.0, "write_key": None,
             "source": "src", "workspace": "ws"} for n in range(count)])


def claim_retries(engine: sa.Engine, lease: Lease, limit: int = 64) -> list[str]:
    with engine.begin() as db:
        return [r.invocation_id for r in retries.due(db, time.time(), lease, limit)]


def test_two_nodes_claiming_at_once_share_the_retries_without_overlap(
        engine: sa.Engine, database_url: str) -> None:
    queue_retries(engine, 40)
    first, second = Lease("node-a"), Lease("node-b")
    holding, claimed_meanwhile = threading.Event(), threading.Event()
    taken: dict[str, list[str]] = {}
    unblocked: list[bool] = []

    def slow_claim() -> None:
        # Claims ten and keeps its transaction open while the other node claims.
        with engine.begin() as db:
            taken["a"] = [r.invocation_id for r in retries.due(db, time.time(), first, 10)]
            holding.set()
            unblocked.append(claimed_meanwhile.wait(5))

    claimer = threading.Thread(target=slow_claim)
    claimer.start()
    assert holding.wait(10)
    # Neither waits for the other's transaction nor takes its rows (SKIP LOCKED; SQLite
    # has one writer, so there the second claim comes after the first commits).
    if database_url.startswith("postgresql"):
        taken["b"] = claim_retries(engine, second)
        claimed_meanwhile.set()
    else:
        claimed_meanwhile.set()
        claimer.join()
        taken["b"] = claim_retries(engine, second)
    claimer.join()
    assert unblocked == [True]  # the second claim did not wait for the first to commit
    assert len(taken["a"]) == 10 and len(taken["b"]) == 30
    assert not set(taken["a"]) & set(taken["b"])
    # Each holds its own: the other claims nothing more, the holder claims its own again.
    assert claim_retries(engine, Lease("node-c")) == []
    assert sorted(claim_retries(engine, first)) == sorted(taken["a"])


def test_a_lapsed_lease_moves_to_another_node_with_its_attempt_and_schedule(
        engine: sa.Engine) -> None:
    queue_retries(engine, 3)
    dead, survivor = Lease("dead", seconds=0.5), Lease("survivor")
    assert len(claim_retries(engine, dead)) == 3
    assert claim_retries(engine, survivor) == []
    time.sleep(0.6)
    with engine.begin() as db:
        moved = retries.due(db, time.time(), survivor)
    assert sorted(r.invocation_id for r in moved) == ["inv-0", "inv-1", "inv-2"]
    assert {(r.attempt, r.first_wait, r.request) for r in moved} == {(2, 90.0, REQUEST)}


def test_a_retry_moved_on_is_any_nodes_and_a_stopping_node_lets_go_at_once(
        engine: sa.Engine) -> None:
    queue_retries(engine, 2)
    first, other = Lease("first"), Lease("other")
    assert sorted(claim_retries(engine, first)) == ["inv-0", "inv-1"]
    with engine.begin() as db:  # inv-0 ran and failed again: its next attempt is queued
        retries.schedule(db, POLICY, invocation_id="inv-0", source="src", request=REQUEST,
                         attempt=3, first_wait=90.0, error="Retry: later")
    assert claim_retries(engine, other) == ["inv-0"]
    with engine.begin() as db:
        first.release(db)
    assert sorted(claim_retries(engine, other)) == ["inv-0", "inv-1"]


def test_outbox_batches_are_claimed_by_one_node_and_retaken_after_the_lease(
        engine: sa.Engine) -> None:
    fill_outbox(engine, 30)
    first, second = Lease("a", seconds=0.5), Lease("b")

    def batch(lease: Lease) -> list[int]:
        with engine.begin() as db:
            return [r.id for r in take_batch(db, None, lease)]

    ids = batch(first)
    assert len(ids) == 30
    assert batch(second) == []
    assert batch(first) == ids  # the holder sends it again after backing off
    with engine.begin() as db:  # ten were taken by the destination
        delete_rows(db, ids[:10])
    time.sleep(0.6)
    assert batch(second) == ids[10:]
    assert batch(first) == []



def test_a_running_retry_keeps_its_lease_and_never_takes_back_a_lapsed_one(
        engine: sa.Engine) -> None:
    queue_retries(engine, 2)
    slow, other = Lease("slow", seconds=0.5), Lease("other")
    assert sorted(claim_retries(engine, slow)) == ["inv-0", "inv-1"]
    time.sleep(0.3)
    with engine.begin() as db:  # inv-0 is still running: renewed; inv-1 is not
        retries.renew(db, "inv-0", slow)
    time.sleep(0.3)
    assert claim_retries(engine, other) == ["inv-1"]
    with engine.begin() as db:  # a renewal of what another node holds changes nothing
        retries.renew(db, "inv-1", slow)
    time.sleep(0.3)
    assert sorted(claim_retries(engine, other)) == ["inv-0", "inv-1"]
