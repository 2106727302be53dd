"""The captures table on a real SQLite file and PostgreSQL database: its bounds, its expiry,
and the comparison replay makes."""

from __future__ import annotations

import time

import sqlalchemy as sa

from runner import captures
from runner.errorlog import PLAIN_TEXT
from runner.replay import normalized, report, unreadable, verdict
from runner.service.keyring import Keyring, generate_key
from runner.store import Db
from segfn import errors
from segfn.sandbox.invocation import HttpRequest, Result


def _keep(db, source: str, n: int, body: bytes = b"{}", sealer=PLAIN_TEXT,  # type: ignore[no-untyped-def]
          **kwargs) -> None:
    captures.capture(db, source=source, invocation_id=f"{source}-{n}",
                     request=HttpRequest(body, [("x-n", str(n))], "http://h/"),
                     result=Result(messages=({"type": "track", "event": str(n)},)),
                     days=1, sealer=sealer, **kwargs)


def _totals_agree(db) -> None:  # type: ignore[no-untyped-def]
    # The running totals the bounds read are what the table holds.
    kept = db.execute(sa.text("SELECT source, count(*), sum(size) FROM captures "
                              "GROUP BY source"))
    assert sorted(map(tuple, kept)) == sorted(map(tuple, db.execute(sa.text(
        "SELECT * FROM capture_totals WHERE count > 0"))))


def test_each_source_keeps_its_newest_captures_up_to_the_count(db: Db) -> None:
    for n in range(5):
        _keep(db, "a", n, keep=3)
    _keep(db, "b", 0, keep=3)
    kept = captures.read_captures(db, PLAIN_TEXT, source="a")
    assert [c["invocation_id"] for c in kept] == ["a-2", "a-3", "a-4"]
    # Another source's bound is its own.
    assert [c["invocation_id"] for c in captures.read_captures(db, PLAIN_TEXT, source="b")
            ] == ["b-0"]
    assert captures.KEEP_PER_SOURCE == 10_000
    _totals_agree(db)


def test_each_source_keeps_its_newest_captures_up_to_the_size(db: Db) -> None:
    for n in range(4):
        _keep(db, "a", n, body=b"x" * 1000, keep_bytes=3000)
    kept = captures.read_captures(db, PLAIN_TEXT)
    # Each sealed request is a little over 1,333 bytes (base64): two fit in 3,000.
    assert [c["invocation_id"] for c in kept] == ["a-2", "a-3"]
    assert HttpRequest.from_dict(kept[0]["request"]).body == b"x" * 1000
    _totals_agree(db)


def test_captures_past_their_days_are_hidden_then_deleted(db: Db) -> None:
    _keep(db, "a", 0, now=time.time() - 2 * captures.DAY)
    _keep(db, "a", 1, now=time.time() - 3600)
    assert [c["invocation_id"] for c in captures.read_captures(db, PLAIN_TEXT)] == ["a-1"]
    assert db.execute(sa.text("SELECT count(*) FROM captures")).scalar() == 1
    _totals_agree(db)


def test_replay_ignores_message_id_timestamp_and_context_library_only() -> None:
    message = {"type": "track", "event": "E", "messageId": "m1", "timestamp": "t1",
               "context": {"library": {"name": "segfn"}, "ip": "1.2.3.4"}}
    assert normalized(message) == {"type": "track", "event": "E",
                                   "context": {"ip": "1.2.3.4"}}
    capture = {"id": 7, "emitted": [message], "error": None}
    again = {**message, "messageId": "m2", "timestamp": "t2",
             "context": {"library": {"name": "other"}, "ip": "1.2.3.4"}}
    assert verdict(capture, Result(messages=(again,)))["outcome"] == "same"
    moved = {**again, "context": {"ip": "5.6.7.8"}}
    assert verdict(capture, Result(messages=(moved,)))["outcome"] == "changed"
    failed = verdict(capture, Result.failed(errors.BAD_REQUEST, "no"))
    assert (failed["outcome"], failed["after"]) == ("failed", [])
    answer = report([verdict(capture, Result(messages=(again,))), failed])
    assert answer == {"replayed": 2, "same": 1, "changed": 0, "failed": 1, "diffs": [
        {"delivery": 7, "before": [normalized(message)], "after": [],
         "error": {"type": errors.BAD_REQUEST, "message": "no", "where": ""}}]}


def test_a_key_rotation_seals_captures_again_and_one_no_key_opens_reads_as_none(
        db: Db) -> None:
    old, new, lost = generate_key(), generate_key(), generate_key()
    _keep(db, "a", 0, sealer=Keyring([old]))
    _keep(db, "a", 1, sealer=Keyring([lost]))
    assert captures.rotate(db, Keyring([new, old]).rotate) == (1, 1)
    _totals_agree(db)
    kept = captures.read_captures(db, Keyring([new]), source="a")
    assert list(HttpRequest.from_dict(kept[0]["request"]).headers) == [("x-n", "0")]
    assert kept[1]["request"] is None
    assert unreadable(kept[1])["error"]["type"] == "NotReplayable"
    captures.forget(db, "a")
    assert captures.read_captures(db, Keyring([new])) == []
    _totals_agree(db)
