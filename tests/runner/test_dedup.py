"""Provider redeliveries: a delivery named by its provider runs once; a copy is answered.

In process (real workers, a real SQLite file), then through a real ``segfn run``, across a
kill -9."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from runner import dedup
from runner.errorlog import read_errors
from runner.events import read_events
from runner.runtime import Outcome, Runtime
from runner.source import Source
from runner.store import Db
from segfn.messages import message_id
from segfn.respond import Reply
from segfn.sandbox.compiler import Handler
from segfn.sandbox.egress import Egress, EgressPolicy
from segfn.sandbox.fleet import Fleet
from segfn.sandbox.invocation import HttpRequest, delivery_invocation_id
from segfn.sandbox.pool import WorkerPool
from tests.runner.destination import FaultyDestination
from tests.runner.harness import BROKEN, FIXED, SEGFN, TRACK, wait_until
from tests.stored import connect, look

JSON = ("Content-Type", "application/json")


def named(delivery: str, header: str = "webhook-id", body: bytes = b'{"user": "u7"}'
          ) -> HttpRequest:
    return HttpRequest(body, [JSON, (header, delivery)])


def deliver_all(tmp_path: Path, *steps: tuple[Source, HttpRequest],
                together: bool = False) -> list[Outcome]:
    """Each delivery in turn (or all at once, with ``together``), on one runtime."""
    async def main() -> list[Outcome]:
        sources = {source.id: source for source, _ in steps}
        runtime = Runtime(tmp_path, Fleet(lambda _: WorkerPool(2), 2),
                          Egress(EgressPolicy()), sources.get)
        await runtime.start()
        try:
            if together:
                return list(await asyncio.gather(*(runtime.deliver(s, r) for s, r in steps)))
            return [await runtime.deliver(s, r) for s, r in steps]
        finally:
            await runtime.close()

    return asyncio.run(main())


def stored(tmp_path: Path) -> list[dict[str, Any]]:
    return look(tmp_path / "segfn.db", read_events)


def test_a_redelivery_is_answered_and_not_run_again(tmp_path: Path) -> None:
    source = Source("src_1", "fn", Handler(TRACK))
    first, again = deliver_all(tmp_path, (source, named("msg_2K1")), (source, named("msg_2K1")))
    assert (first.status, first.body()) == (200, {"ok": True})
    assert (again.status, again.body()) == (200, {"ok": True, "duplicate": True})
    invocation = delivery_invocation_id("src_1", "msg_2K1")
    assert first.invocation_id == again.invocation_id == invocation
    events = stored(tmp_path)
    assert [e["message"]["messageId"] for e in events] == [
        message_id(invocation, 0), message_id(invocation, 1)]
    assert {e["invocation_id"] for e in events} == {invocation}


def test_each_provider_header_names_a_delivery(tmp_path: Path) -> None:
    source = Source("src_1", "fn", Handler(TRACK))
    steps = [(source, named("d-1", header)) for header in dedup.DELIVERY_HEADERS
             for _ in range(2)]
    outcomes = deliver_all(tmp_path, *steps)
    # The same id in different headers is the same delivery: only the very first runs.
    assert [o.duplicate for o in outcomes] == [False] + [True] * (len(steps) - 1)
    assert len(stored(tmp_path)) == 2


def test_a_delivery_with_no_id_always_runs(tmp_path: Path) -> None:
    source = Source("src_1", "fn", Handler(TRACK))
    plain = HttpRequest(b"{}", [JSON])
    outcomes = deliver_all(tmp_path, (source, plain), (source, plain))
    assert not any(o.duplicate for o in outcomes)
    assert outcomes[0].invocation_id != outcomes[1].invocation_id
    assert len(stored(tmp_path)) == 4


def test_a_redelivery_while_the_first_runs_waits_and_gets_its_answer(tmp_path: Path) -> None:
    source = Source("src_1", "fn", Handler(TRACK))
    outcomes = deliver_all(tmp_path, *[(source, named("evt_1"))] * 3, together=True)
    assert [o.status for o in outcomes] == [200, 200, 200]
    assert [o.duplicate for o in outcomes] == [False, True, True]
    assert len(stored(tmp_path)) == 2


def test_a_redelivery_of_a_failed_delivery_runs_again(tmp_path: Path) -> None:
    broken = Source("src_1", "fn", Handler(BROKEN))
    fixed = Source("src_1", "fn", Handler(FIXED))
    failed, again = deliver_all(tmp_path, (broken, named("evt_9")), (fixed, named("evt_9")))
    assert failed.status == 400 and not failed.duplicate
    assert (again.status, again.body()) == (200, {"ok": True})
    assert [e["message"]["event"] for e in stored(tmp_path)] == ["Order"]
    assert len(look(tmp_path / "segfn.db", read_errors)) == 1


def test_a_concurrent_redelivery_of_a_failure_gets_the_same_failure(tmp_path: Path) -> None:
    broken = Source("src_1", "fn", Handler(BROKEN))
    outcomes = deliver_all(tmp_path, *[(broken, named("evt_9"))] * 2, together=True)
    assert [o.body() for o in outcomes] == [outcomes[0].body()] * 2
    assert outcomes[0].status == 400
    # Run once: one entry in the errors log, not two.
    assert len(look(tmp_path / "segfn.db", read_errors)) == 1


HANDSHAKE = """
def on_request(request, settings):
    return respond(json={"challenge": request.json()["user"]})
"""
LATER = """
def on_request(request, settings):
    raise RetryError("upstream is down")
"""


def test_a_redelivered_handshake_gets_the_same_reply(tmp_path: Path) -> None:
    source = Source("src_1", "fn", Handler(HANDSHAKE))
    first, again = deliver_all(tmp_path, *[(source, named("v-1"))] * 2)
    assert again.duplicate
    assert first.result.reply == again.result.reply
    assert again.result.reply is not None and again.result.reply.json() == {"challenge": "u7"}


def test_two_sources_with_the_same_delivery_id_both_run(tmp_path: Path) -> None:
    one, two = Source("src_1", "fn", Handler(TRACK)), Source("src_2", "fn", Handler(TRACK))
    outcomes = deliver_all(tmp_path, (one, named("evt_1")), (two, named("evt_1")))
    assert not any(o.duplicate for o in outcomes)
    events = stored(tmp_path)
    assert [e["source"] for e in events] == ["src_1", "src_1", "src_2", "src_2"]
    assert len({e["message"]["messageId"] for e in events}) == 4


def test_the_sources_own_header_names_a_delivery_too(tmp_path: Path) -> None:
    own = Source("src_1", "fn", Handler(TRACK), dedup_header="X-Acme-Delivery")
    other = Source("src_2", "fn", Handler(TRACK))
    outcomes = deliver_all(tmp_path, *[(own, named("a1", "X-Acme-Delivery"))] * 2,
                           *[(other, named("a1", "X-Acme-Delivery"))] * 2)
    assert [o.duplicate for o in outcomes] == [False, True, False, False]


def test_kept_answers_go_after_24_hours_and_are_bounded(db: Db, monkeypatch: Any) -> None:
    reply = Reply("application/json", '{"challenge": "c"}')
    dedup.remember(db, "old", dedup.Answer(200), now=1000.0)
    dedup.remember(db, "hand", dedup.Answer(200, reply), now=2000.0)
    assert dedup.recall(db, "hand", now=2000.0 + dedup.KEEP_SECONDS - 1) == dedup.Answer(
        200, reply)
    assert dedup.recall(db, "old", now=1000.0 + dedup.KEEP_SECONDS) is None
    monkeypatch.setattr(dedup, "MAX_ANSWERS", 3)
    for n in range(5):
        dedup.remember(db, f"n{n}", dedup.Answer(202), now=3000.0 + n)
    assert [r[0] for r in db.execute(sa.text("SELECT invocation_id FROM answers ORDER BY at"))
            ] == [
        "n2", "n3", "n4"]
    # Past 24 h, remembering another prunes them all from the file.
    dedup.remember(db, "late", dedup.Answer(200), now=3004.0 + dedup.KEEP_SECONDS)
    assert [r[0] for r in db.execute(sa.text("SELECT invocation_id FROM answers"))] == ["late"]


def test_segfn_run_keeps_one_copy_across_a_kill_9(start_runner: Any,
                                                   destination: FaultyDestination) -> None:
    args = ("--segment-endpoint", destination.url, "--write-key", "wk-local")
    runner = start_runner(TRACK, *args)
    headers = {"webhook-id": "msg_kill9"}
    first = runner.post({}, headers=headers)
    assert first.json() == {"ok": True}
    # Killed once the outbox has sent it: what the destination takes next is new.
    database = connect(runner.data_dir / "segfn.db")
    wait_until(lambda: database.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0)
    runner.kill()
    restarted = start_runner(TRACK, *args, data_dir=runner.data_dir)
    again = restarted.post({}, headers=headers)
    assert (again.status_code, again.json()) == (200, {"ok": True, "duplicate": True})
    # A later delivery's messages come after any left from before: then all have come.
    assert restarted.post({}, headers={"webhook-id": "msg_next"}).status_code == 200
    ids = wait_until(lambda: len(destination.taken) >= 4
                     and [m["messageId"] for m in destination.taken])
    invocation = delivery_invocation_id("default", "msg_kill9")
    following = delivery_invocation_id("default", "msg_next")
    assert ids == [message_id(invocation, 0), message_id(invocation, 1),
                   message_id(following, 0), message_id(following, 1)]


def test_segfn_run_dedup_header(start_runner: Any) -> None:
    runner = start_runner(TRACK, "--dedup-header", "X-Acme-Delivery")
    answers = [runner.post({}, headers={"X-Acme-Delivery": "a-1"}).json() for _ in range(2)]
    assert answers == [{"ok": True}, {"ok": True, "duplicate": True}]
    events = look(runner.data_dir / "segfn.db", read_events)
    assert len(events) == 2


def test_segfn_run_refuses_a_dedup_header_that_is_no_header_name(tmp_path: Path) -> None:
    handler = tmp_path / "handler.py"
    handler.write_text(TRACK)
    done = subprocess.run([*SEGFN, "run", str(handler), "--dedup-header", "X Delivery:"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "'X Delivery:' is not a header name" in done.stderr


def test_segfn_run_answers_a_redelivery_202_while_its_retry_is_queued(
        start_runner: Any) -> None:
    # Through segfn run, not in process: the retry stays queued (60 s at least) till the end.
    runner = start_runner(LATER)
    answers = [runner.post({}, headers={"webhook-id": "r-1"}) for _ in range(2)]
    assert [a.status_code for a in answers] == [202, 202]
    assert answers[1].json() == {"ok": True, "duplicate": True}
    queued = connect(runner.data_dir / "segfn.db").execute("SELECT attempt FROM retries")
    assert [row[0] for row in queued.fetchall()] == [1]
