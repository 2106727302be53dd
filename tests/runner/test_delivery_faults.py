"""Delivery under every fault of the destination: it goes on, and loses nothing silently.

In-process: a real Store (a SQLite file, a PostgreSQL database) and Deliverer against
``FaultyDestination`` on loopback.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from runner import delivery, events
from runner.delivery import Deliverer, Destination, read_dead_letters
from runner.store import Store
from segfn.cli import main
from segfn.sandbox.invocation import Result, new_invocation_id
from tests.runner.destination import Answer, FaultyDestination, http_date
from tests.stored import peek


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delivery, "FIRST_BACKOFF", 0.1)


@pytest.fixture
def store(database_url: str):
    opened = Store(database_url)
    yield opened
    opened.close()


def dead_letters(store: Store) -> list[dict[str, Any]]:
    return peek(store, read_dead_letters)


def track(n: int) -> dict[str, Any]:
    return {"type": "track", "event": "Order Completed", "userId": str(n),
            "properties": {"n": n}}


def save(store: Store, write_key: str | None, *ns: int, source: str = "src_a",
         workspace: str = "ws_a") -> None:
    result = Result(messages=[track(n) for n in ns])
    asyncio.run(store.run(lambda db: events.save_result(
        db, source, new_invocation_id(), result, outbox=True, write_key=write_key,
        workspace=workspace)))


def drain(store: Store, url: str, until: Callable[[], bool], timeout: float = 15.0,
          during: Callable[[], None] | None = None, **kwargs: Any) -> Deliverer:
    """Run a Deliverer until ``until()`` holds; ``during`` runs (in a thread) meanwhile."""
    async def main() -> Deliverer:
        deliverer = Deliverer(store, Destination(url, "wk_default"), **kwargs)
        task = asyncio.create_task(deliverer.run())
        side = asyncio.create_task(asyncio.to_thread(during)) if during else None
        try:
            deadline = time.monotonic() + timeout
            while not until():
                assert time.monotonic() < deadline, "delivery did not finish in time"
                assert not task.done(), task
                await asyncio.sleep(0.05)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            if side is not None:
                await side
            await deliverer.aclose()
            await store.run(lambda db: None)
        return deliverer

    return asyncio.run(main())


def ns(messages: list[dict[str, Any]]) -> list[int]:
    return [m["properties"]["n"] for m in messages]


def outbox_count(store: Store) -> int:
    return peek(store, lambda db: db.execute(sa.text("SELECT COUNT(*) FROM outbox"))
                .scalar_one())


def test_an_answer_that_is_not_utf8_does_not_stop_delivery(
        store: Store, destination: FaultyDestination) -> None:
    destination.script = [Answer(502, b"<h1>Bad \xff\xfe Gateway</h1>"),
                          Answer(400, b"\xc3\x28 invalid \x80" * 2000)]
    save(store, "wk_a", 1)
    drain(store, destination.url, lambda: bool(dead_letters(store)))
    save(store, "wk_a", 2)
    drain(store, destination.url, lambda: ns(destination.taken) == [2])
    letter = dead_letters(store)[0]
    assert letter["status"] == 400
    assert "invalid" in letter["response"] and "\ufffd" in letter["response"]
    assert len(letter["response"]) <= delivery.MAX_RESPONSE_CHARS
    assert destination.statuses() == [502, 400, 200]


def test_a_redirect_is_not_followed(store: Store, destination: FaultyDestination) -> None:
    destination.script = [Answer(301, b"", {"Location": destination.url + "/elsewhere"}),
                          Answer(307, b"", {"Location": destination.url + "/v1/other"})]
    save(store, "wk_a", 1)
    drain(store, destination.url,
          lambda: ns(destination.taken) == [1] and outbox_count(store) == 0)
    assert [(r.method, r.path) for r in destination.received] == [("POST", "/v1/batch")] * 3
    assert outbox_count(store) == 0
    assert not dead_letters(store)


def test_retry_after_is_capped_at_the_maximum_backoff(
        store: Store, destination: FaultyDestination, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delivery, "MAX_BACKOFF", 0.5)
    destination.script = [Answer(503, headers={"Retry-After": "86400"}),
                          Answer(429, headers={"Retry-After": http_date(86400)})]
    save(store, "wk_a", 1)
    drain(store, destination.url, lambda: ns(destination.taken) == [1], timeout=5)


def test_retry_after_as_an_http_date_is_honoured(store: Store,
                                                 destination: FaultyDestination) -> None:
    destination.script = [Answer(429, headers={"Retry-After": http_date(3)})]
    save(store, "wk_a", 1)
    drain(store, destination.url, lambda: ns(destination.taken) == [1])
    first, second = destination.received[:2]
    # The date has whole seconds: three from now is two to three seconds away.
    assert second.at - first.at >= 1.5


def test_one_write_keys_failures_never_delay_another(store: Store,
                                                     destination: FaultyDestination) -> None:
    destination.refuse_keys = {"wk_down": Answer(503),
                               "wk_later": Answer(429, headers={"Retry-After": "300"}),
                               "wk_slow": Answer(503, stall=30)}
    save(store, "wk_down", 1, source="src_down")
    save(store, "wk_later", 2, source="src_later")
    save(store, "wk_slow", 3, source="src_slow")
    save(store, "wk_ok", 4, source="src_ok")

    def more() -> None:
        time.sleep(1.5)  # the failing lanes are backing off by now
        save(store, "wk_ok", 5, source="src_ok")

    drain(store, destination.url, lambda: ns(destination.taken) == [4, 5], timeout=6,
          during=more)
    keys = {r.write_key for r in destination.received}
    assert keys == {"wk_down", "wk_later", "wk_slow", "wk_ok"}


def test_a_refused_batch_is_split_until_the_bad_message_is_alone(
        store: Store, destination: FaultyDestination) -> None:
    destination.refuse_message = lambda m: m["properties"]["n"] == 13
    save(store, "wk_a", *range(40), source="src_a", workspace="ws_a")
    # Until the taken rows are deleted too: a batch is taken before its rows go.
    drain(store, destination.url,
          lambda: len(destination.taken) == 39 and outbox_count(store) == 0)
    assert sorted(ns(destination.taken)) == [n for n in range(40) if n != 13]
    letters = dead_letters(store)
    assert len(letters) == 1
    letter = letters[0]
    assert (letter["source"], letter["workspace"], letter["status"]) == ("src_a", "ws_a", 400)
    assert letter["response"] == '{"error": "invalid message"}'
    assert ns(letter["batch"]["batch"]) == [13]
    assert outbox_count(store) == 0
    if store.is_sqlite:  # segfn dead-letters reads them from segfn run's data dir
        listed = CliRunner().invoke(main, ["dead-letters", "--data-dir",
                                           str(Path(str(store.url.database)).parent), "--json"])
        assert listed.exit_code == 0, listed.output
        assert json.loads(listed.output) == {"dead_letters": letters}
