"""Delivery to a Segment-compatible Tracking API, and nothing lost on the way (SPEC 9)."""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import json
import sqlite3
import threading
import time
from pathlib import Path

import httpx

from runner import events
from runner.delivery import Deliverer, Destination, outbox_empty, read_dead_letters
from runner.observer import Observer
from runner.runtime import Runtime
from runner.source import Source
from runner.store import Store
from segfn.sandbox.compiler import Handler
from segfn.sandbox.egress import Egress, EgressPolicy
from segfn.sandbox.fleet import Fleet
from segfn.sandbox.invocation import HttpRequest, Result, new_invocation_id
from segfn.sandbox.pool import WorkerPool
from tests.runner.destination import Answer, FaultyDestination
from tests.runner.harness import FakeSegment, basic_user, wait_until
from tests.stored import connect, look

HANDLER = '''
def on_request(request, settings):
    body = request.json()
    Segment.track({"event": "Order Completed", "userId": str(body["n"]),
                   "properties": {"n": body["n"]}})
    if body.get("object"):
        Segment.set(collection="orders", id=str(body["n"]), properties=body["object"])
'''


def numbers(messages: list[dict]) -> set[int]:
    return {m["properties"]["n"] for m in messages}


def test_batches_reach_the_tracking_api(start_runner, fake_segment: FakeSegment) -> None:
    runner = start_runner(HANDLER, "--segment-endpoint", fake_segment.url,
                          "--write-key", "wk_123")
    for n in range(5):
        assert runner.post({"n": n}).status_code == 200
    wait_until(lambda: numbers(fake_segment.messages) == set(range(5)))
    batch = fake_segment.batches[0]
    assert batch["path"] == "/v1/batch"
    assert batch["body"]["sentAt"].endswith("Z")
    assert basic_user(fake_segment.auth[0]) == "wk_123"
    message = fake_segment.messages[0]
    assert message["type"] == "track"
    assert message["context"]["library"]["name"] == "segfn"
    assert len(message["messageId"]) <= 100


def test_objects_merge_in_the_object_store(start_runner) -> None:
    runner = start_runner(HANDLER)
    runner.post({"n": 1, "object": {"status": "open", "total": 10}})
    runner.post({"n": 1, "object": {"status": "paid"}})
    objects = wait_until(lambda: runner.segfn("events")["objects"])
    assert objects == [{"source": "default", "collection": "orders", "id": "1",
                        "properties": {"status": "paid", "total": 10},
                        "updated_at": objects[0]["updated_at"]}]


def test_destination_down_then_up(start_runner) -> None:
    fake = FakeSegment()  # not started: connections are refused
    runner = start_runner(HANDLER, "--segment-endpoint", fake.url, "--write-key", "k")
    for n in range(10):
        assert runner.post({"n": n}).status_code == 200
    time.sleep(1.5)
    fake.start()
    try:
        wait_until(lambda: numbers(fake.messages) == set(range(10)), timeout=30)
    finally:
        fake.stop()


def test_server_errors_are_retried_honouring_retry_after(start_runner,
                                                        fake_segment: FakeSegment) -> None:
    fake_segment.answers = [(500, {}), (429, {"Retry-After": "1"})]
    runner = start_runner(HANDLER, "--segment-endpoint", fake_segment.url, "--write-key", "k")
    assert runner.post({"n": 7}).status_code == 200
    wait_until(lambda: numbers(fake_segment.messages) == {7}, timeout=30)
    statuses = [b["status"] for b in fake_segment.batches]
    assert statuses[:3] == [500, 429, 200]
    # The same message bytes on every attempt.
    ids = {b["body"]["batch"][0]["messageId"] for b in fake_segment.batches}
    assert len(ids) == 1


def test_refused_batch_goes_to_dead_letters(start_runner, fake_segment: FakeSegment) -> None:
    fake_segment.answers = [(400, {})]
    runner = start_runner(HANDLER, "--segment-endpoint", fake_segment.url, "--write-key", "k")
    runner.post({"n": 3})
    letters = wait_until(lambda: runner.segfn("events")["dead_letters"])
    assert letters[0]["status"] == 400
    assert letters[0]["batch"]["batch"][0]["properties"]["n"] == 3
    runner.post({"n": 4})
    wait_until(lambda: numbers(fake_segment.messages) == {4})


def test_kill_9_mid_traffic_loses_nothing(start_runner, fake_segment: FakeSegment,
                                          tmp_path) -> None:
    args = ("--segment-endpoint", fake_segment.url, "--write-key", "k")
    runner = start_runner(HANDLER, *args)
    accepted: set[int] = set()
    stop = threading.Event()

    def send(n: int) -> None:
        if stop.is_set():
            return
        try:
            if httpx.post(runner.url, json={"n": n}, timeout=5).status_code == 200:
                accepted.add(n)
        except httpx.HTTPError:
            pass

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        futures = [pool.submit(send, n) for n in range(600)]
        wait_until(lambda: len(accepted) >= 150, timeout=30)
        runner.kill()
        stop.set()
        concurrent.futures.wait(futures)
    assert accepted, "no request was accepted before the kill"
    restarted = start_runner(HANDLER, *args, data_dir=runner.data_dir)
    wait_until(lambda: accepted <= numbers(fake_segment.messages), timeout=60)
    assert restarted.post({"n": 10_000}).status_code == 200


def test_kill_9_with_the_embedded_store(start_runner) -> None:
    runner = start_runner(HANDLER)
    accepted = {n for n in range(50) if runner.post({"n": n}).status_code == 200}
    runner.kill()
    restarted = start_runner(HANDLER, data_dir=runner.data_dir)
    stored = numbers([e["message"] for e in restarted.segfn("events")["events"]])
    assert accepted == set(range(50))
    assert accepted <= stored


# In-process: a real Store file and Deliverer against the fake Tracking API.

def track(n: int, source: str) -> dict:
    return {"type": "track", "event": "Order Completed", "userId": str(n),
            "properties": {"n": n, "source": source}}


def save(store: Store, source: str, write_key: str | None, *ns: int) -> None:
    result = Result(messages=[track(n, source) for n in ns])
    asyncio.run(store.run(lambda db: events.save_result(
        db, source, new_invocation_id(), result, outbox=True, write_key=write_key)))


class Failures(Observer):
    """The reasons of the failed sends, in order."""

    def __init__(self) -> None:
        self.reasons: list[str] = []

    def delivery_failed(self, reason: str) -> None:
        self.reasons.append(reason)


def drain(store: Store, destination: Destination, until, timeout: float = 20.0,
          observer: Observer | None = None) -> None:
    """Run a Deliverer until ``until()`` holds."""
    async def main() -> None:
        deliverer = Deliverer(store, destination, observer)
        task = asyncio.create_task(deliverer.run())
        try:
            deadline = time.monotonic() + timeout
            while not until():
                assert time.monotonic() < deadline, "delivery did not finish in time"
                assert not task.done(), task
                await asyncio.sleep(0.05)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await deliverer.aclose()
            # The writer settles in order: once this is done, so is any change the
            # cancelled loop left behind, and none is settled on a closed event loop.
            await store.run(lambda db: None)

    asyncio.run(main())


def basic(write_key: str) -> str:
    return "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()


def sent(fake: FakeSegment) -> list[tuple[str, list[int]]]:
    """Each batch taken: its Authorization header and the numbers in it, in order."""
    return [(auth, [m["properties"]["n"] for m in batch["body"]["batch"]])
            for auth, batch in zip(fake.auth, fake.batches, strict=True)
            if batch["status"] < 300]


def test_each_write_key_gets_its_own_batches(database_url: str,
                                             fake_segment: FakeSegment) -> None:
    store = Store(database_url)
    try:
        save(store, "src_a", "wk_a", 1)
        save(store, "src_b", "wk_b", 2)
        save(store, "src_a", "wk_a", 3, 4)
        save(store, "src_n", None, 5)
        save(store, "src_b", "wk_b", 6)
        save(store, "src_a", "wk_a", 7)
        save(store, "src_n", None, 8)
        drain(store, Destination(fake_segment.url, "wk_default"),
              lambda: len(fake_segment.messages) == 8)
        assert look(database_url, outbox_empty)
    finally:
        store.close()
    # One lane a key, sending side by side; within one key, the order they were saved in.
    assert sorted(sent(fake_segment)) == [(basic("wk_a"), [1, 3, 4, 7]),
                                          (basic("wk_b"), [2, 6]),
                                          (basic("wk_default"), [5, 8])]
    for batch in fake_segment.batches:
        assert len({m["properties"]["source"] for m in batch["body"]["batch"]}) == 1


def test_no_default_write_key_when_every_source_has_one(database_url: str,
                                                       fake_segment: FakeSegment) -> None:
    store = Store(database_url)
    try:
        save(store, "src_a", "wk_a", 1)
        save(store, "src_b", "", 2)  # an empty key is no key: the destination's
        drain(store, Destination(fake_segment.url, ""),
              lambda: len(fake_segment.messages) == 2)
    finally:
        store.close()
    assert sorted(sent(fake_segment)) == [(basic(""), [2]), (basic("wk_a"), [1])]


def test_failures_are_reported_and_keys_kept_apart(database_url: str,
                                                  destination: FaultyDestination) -> None:
    destination.refuse_keys = {"wk_bad": Answer(503, headers={"Retry-After": "0.1"})}
    failures = Failures()
    store = Store(database_url)
    try:
        save(store, "src_a", "wk_bad", 1, 2)
        save(store, "src_b", "wk_b", 3)

        def done() -> bool:
            if len(failures.reasons) >= 2:
                destination.refuse_keys["wk_bad"] = Answer(401)
            return bool(look(database_url, read_dead_letters))

        drain(store, Destination(destination.url, "k"), done, observer=failures)
        letters = look(database_url, read_dead_letters)
    finally:
        store.close()
    assert failures.reasons[:2] == ["status 503", "status 503"]
    assert failures.reasons[-1] == "status 401"
    assert [(r.write_key, r.messages[0]["properties"]["n"]) for r in destination.received
            if r.taken] == [("wk_b", 3)]
    # A refused write key: each message its own dead letter, with its source.
    assert [(m["source"], m["batch"]["batch"][0]["properties"]["n"]) for m in letters] == [
        ("src_a", 1), ("src_a", 2)]


def test_network_failures_are_reported(database_url: str) -> None:
    fake = FakeSegment()  # not started yet: connections are refused
    failures = Failures()
    store = Store(database_url)
    try:
        save(store, "src_a", "wk_a", 1)
        threading.Timer(0.3, fake.start).start()
        drain(store, Destination(fake.url, "k"), lambda: len(fake.messages) == 1,
              observer=failures)
    finally:
        store.close()
        fake.stop()
    assert failures.reasons and set(failures.reasons) == {"network"}
    assert sent(fake) == [(basic("wk_a"), [1])]


OLD_OUTBOX = """
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message TEXT NOT NULL,
    created_at REAL NOT NULL
);
"""


def test_an_outbox_from_before_write_keys_is_migrated(tmp_path: Path,
                                                     fake_segment: FakeSegment) -> None:
    path = tmp_path / "segfn.db"
    old = sqlite3.connect(path)
    old.executescript(OLD_OUTBOX)
    old.executemany("INSERT INTO outbox (message, created_at) VALUES (?, ?)",
                    [(json.dumps(track(n, "default")), time.time()) for n in (1, 2)])
    old.commit()
    old.close()
    store = Store(path)
    try:
        columns = [r["name"] for r in connect(path).execute("PRAGMA table_info(outbox)")]
        assert columns == ["id", "message", "created_at", "write_key", "source", "workspace",
                           "leased_by", "lease_until"]
        save(store, "src_a", "wk_a", 3)
        drain(store, Destination(fake_segment.url, "wk_old"),
              lambda: len(fake_segment.messages) == 3)
    finally:
        store.close()
    # Each write key is a lane of its own: the two are sent in either order.
    assert sorted(sent(fake_segment)) == sorted([(basic("wk_old"), [1, 2]),
                                                 (basic("wk_a"), [3])])
    Store(path).close()  # opening a migrated file again changes nothing


def test_the_runtime_sends_under_each_sources_write_key(tmp_path: Path,
                                                        fake_segment: FakeSegment) -> None:
    sources = {name: Source(name, "orders", Handler(HANDLER), write_key=key)
               for name, key in [("src_a", "wk_a"), ("src_b", "wk_b"), ("src_n", None)]}

    async def main() -> None:
        runtime = Runtime(tmp_path, Fleet(lambda _: WorkerPool(1), 1), Egress(EgressPolicy()),
                          sources.get, Destination(fake_segment.url, "wk_default"))
        await runtime.start()
        try:
            for n, name in enumerate(["src_a", "src_b", "src_n", "src_a", "src_b"]):
                request = HttpRequest(json.dumps({"n": n}).encode(),
                                      [("Content-Type", "application/json")])
                assert (await runtime.deliver(sources[name], request)).status == 200
            deadline = time.monotonic() + 20
            while len(fake_segment.messages) < 5:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
        finally:
            await runtime.close()

    asyncio.run(main())
    by_key: dict[str, list[int]] = {}
    for auth, ns in sent(fake_segment):
        by_key.setdefault(auth, []).extend(ns)
    assert by_key == {basic("wk_a"): [0, 3], basic("wk_b"): [1, 4],
                      basic("wk_default"): [2]}
