"""Delivery to a Segment-compatible Tracking API, and nothing lost on the way (SPEC 9)."""

from __future__ import annotations

import concurrent.futures
import threading
import time

import httpx

from tests.runner.harness import FakeSegment, basic_user, wait_until

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
