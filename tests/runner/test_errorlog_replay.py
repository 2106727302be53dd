"""What the errors log keeps to run an invocation again, and how a redrive takes it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from runner import errorlog, redrive, retries
from runner.errorlog import PLAIN_TEXT, NotReplayable, record_error, replayed
from runner.leases import Lease
from runner.service.keyring import Keyring, generate_key
from runner.store import Db
from segfn.sandbox.invocation import HttpRequest, Result
from tests.stored import change, connect

PLAIN = HttpRequest(b'{"n": 1}', [("Content-Type", "application/json")], "http://h/")
SECRET = HttpRequest(b'{"key": "s3cret-value"}',
                     [("Content-Type", "application/json"), ("X-Api-Token", "tok-1")],
                     "http://h/fn/hook-token")
HIDDEN = ("s3cret-value", "hook-token")
FAILED = Result.failed("BadRequest", "boom")


def log(db: Db, request: HttpRequest, sealer: errorlog.Sealer | None,
        source: str = "src", attempts: int = 1) -> sa.RowMapping:
    record_error(db, source=source, function="fn", invocation_id=f"inv-{source}-{attempts}",
                 request=request, result=FAILED, attempts=attempts, secrets=HIDDEN,
                 sealer=sealer)
    return db.execute(sa.text("SELECT * FROM errors ORDER BY id DESC LIMIT 1")).mappings().one()


def test_a_request_with_nothing_to_hide_is_kept_as_it_was_even_without_a_sealer(
        db: Db) -> None:
    row = log(db, PLAIN, None)
    assert replayed(row["replay"], None) == PLAIN
    assert errorlog.read_errors(db)[0]["retryable"] is True


def test_a_redacted_request_is_kept_only_sealed_and_opened_only_with_the_key(
        db: Db) -> None:
    key = Keyring([generate_key()])
    row = log(db, SECRET, key)
    for secret in ("s3cret-value", "tok-1", "hook-token"):
        assert secret not in row["replay"] and secret not in row["request"]
    assert replayed(row["replay"], key) == SECRET
    with pytest.raises(NotReplayable, match="cannot be decrypted"):
        replayed(row["replay"], Keyring([generate_key()]))
    for sealer in (None, PLAIN_TEXT):
        with pytest.raises(NotReplayable, match="through the service that logged it"):
            replayed(row["replay"], sealer)


def test_a_redacted_request_without_a_sealer_is_not_kept_and_says_why(
        db: Db) -> None:
    row = log(db, SECRET, None)
    assert row["replay"] is None
    assert errorlog.read_errors(db)[0]["retryable"] is False
    with pytest.raises(NotReplayable, match="secret key"):
        replayed(row["replay"], None)


def test_segfn_run_keeps_the_original_in_its_data_dir(db: Db) -> None:
    assert replayed(log(db, SECRET, PLAIN_TEXT)["replay"], PLAIN_TEXT) == SECRET


def test_an_old_file_gets_the_column_and_its_entries_are_not_retryable(
        tmp_path: Path) -> None:
    old = connect(tmp_path / "old.db")
    old.execute("CREATE TABLE errors (id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL, "
                "source TEXT, function TEXT, invocation_id TEXT, type TEXT, message TEXT, "
                "request TEXT, logs TEXT, attempts INTEGER)")
    old.execute("INSERT INTO errors (at, source, function, invocation_id, type, message, "
                "request, logs, attempts) "
                "VALUES (9e9, 's', 'f', 'i', 'BadRequest', 'm', ?, '[]', 1)",
                (json.dumps({"url": "u", "headers": [], "body": ""}),))
    done = change(tmp_path / "old.db", lambda db: redrive.retry_errors(
        db, ids=None, source=None, sealer=PLAIN_TEXT))
    assert done["queued"] == [] and "not retried" in done["refused"][0]["reason"]
    old.close()


def test_a_retry_queues_the_entry_due_now_as_one_attempt_more(
        db: Db) -> None:
    mine = log(db, SECRET, PLAIN_TEXT, attempts=7)
    theirs = log(db, PLAIN, PLAIN_TEXT, source="other")
    done = redrive.retry_errors(db, ids=[mine["id"], theirs["id"], 99], source="src",
                                sealer=PLAIN_TEXT)
    assert done == {"queued": [{"id": mine["id"], "invocation_id": "inv-src-7"}],
                    "refused": [{"id": theirs["id"], "reason": "no such entry of this source"},
                                {"id": 99, "reason": "no such entry of this source"}],
                    "left": 0}
    [pending] = retries.due(db, now=float("inf"), lease=Lease())
    assert (pending.invocation_id, pending.request, pending.attempt) == (
        "inv-src-7", SECRET, 7)
    assert [e["source"] for e in errorlog.read_errors(db)] == ["other"]


def test_a_key_rotation_seals_kept_requests_again_and_counts_those_it_cannot_open(
        db: Db) -> None:
    old, new, lost = generate_key(), generate_key(), generate_key()
    kept = log(db, SECRET, Keyring([old]))
    gone = log(db, SECRET, Keyring([lost]), source="other")
    plain = log(db, PLAIN, None, source="third")
    assert errorlog.rotate_replays(db, Keyring([new, old]).rotate) == (1, 1)
    rows = {r.id: r.replay for r in db.execute(sa.text("SELECT id, replay FROM errors"))}
    assert replayed(rows[kept["id"]], Keyring([new])) == SECRET
    assert rows[gone["id"]] == gone["replay"] and rows[plain["id"]] == plain["replay"]
