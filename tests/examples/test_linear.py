import hashlib
import hmac
import json
import time
from pathlib import Path

from segfn.payloads import load_payload

SOURCE = "linear"
HANDLER = Path(__file__).resolve().parents[2] / "examples" / "linear.py"
USER = "674c90c8-35ea-454d-8ca4-5548258fd795"
ORGANIZATION = "7a661544-df08-4cd1-a1e3-5ec611898806"


def calls(result):
    return [{k: v for k, v in m.items() if k not in ("messageId", "context")}
            for m in result.messages]


def test_issue_created_is_tracked_for_its_creator(load_handler, own_payloads):
    result = load_handler(HANDLER).post_payload(own_payloads / "issue-create.json")
    assert result.ok, result.error
    assert calls(result) == [{
        "type": "track", "userId": USER, "event": "Issue Created",
        "properties": {
            "issue_id": "a4344dc7-7d8d-4b28-a93c-553ac9aba41a", "identifier": "WEB-43",
            "title": "Very small font in tooltip", "state": "Todo",
            "priority": "No priority", "team": "Webhooks",
            "url": "https://linear.app/webhooks/issue/WEB-43/very-small-font-in-tooltip",
            "organization_id": ORGANIZATION},
        "timestamp": "2023-04-11T09:59:47.094Z",
    }]


def test_comment_identifies_its_author(load_handler, own_payloads):
    result = load_handler(HANDLER).post_payload(own_payloads / "comment-create.json")
    assert result.ok, result.error
    identify, track = calls(result)
    assert identify == {"type": "identify", "userId": USER,
                        "traits": {"name": "Satyam Bansal"},
                        "timestamp": "2023-04-11T10:21:34.858Z"}
    assert track["event"] == "Comment Created"
    assert track["properties"] == {
        "comment_id": "c7cafc52-994d-4984-a217-bff9f9aa9473",
        "issue_id": "f9a37fcf-eb52-44be-a52c-0477f70e9952",
        "issue_title": "Thorough Impact Analysis and Cost Realization",
        "url": "https://linear.app/webhooks/issue/WEB-46#comment-c7cafc52",
        "organization_id": ORGANIZATION}


def test_the_actor_of_a_current_delivery_is_the_user(load_handler, own_payloads):
    body = json.loads(load_payload(own_payloads / "issue-create.json").body)
    body["action"] = "update"
    body["actor"] = {"id": "u-2", "type": "user", "name": "Ada", "email": "ada@example.com"}
    result = load_handler(HANDLER).post(json=body)
    assert result.ok, result.error
    assert [m["userId"] for m in result.messages] == ["u-2", "u-2"]
    assert result.identifies[0]["traits"] == {"name": "Ada", "email": "ada@example.com"}
    assert result.tracks[0]["event"] == "Issue Updated"


def test_every_payload_runs(load_handler, payload):
    result = load_handler(HANDLER).post_payload(payload)
    assert result.ok, result.error


def signed(body, secret):
    return {"Linear-Signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


def fresh_body(own_payloads):
    body = json.loads(load_payload(own_payloads / "issue-create.json").body)
    body["webhookTimestamp"] = int(time.time() * 1000)
    return json.dumps(body).encode()


def test_good_signature_is_accepted(load_handler, own_payloads):
    body = fresh_body(own_payloads)
    result = load_handler(HANDLER, settings={"webhookSecret": "lin_wh"}).post(
        body, headers=signed(body, "lin_wh"))
    assert result.ok, result.error
    assert [t["event"] for t in result.tracks] == ["Issue Created"]


def test_wrong_signature_is_rejected(load_handler, own_payloads):
    body = fresh_body(own_payloads)
    result = load_handler(HANDLER, settings={"webhookSecret": "lin_wh"}).post(
        body, headers=signed(body, "other"))
    assert result.error.type == "MessageRejected"
    assert "Linear-Signature does not match" in result.error.message
    assert not result.messages


def test_stale_signature_is_rejected(load_handler, own_payloads):
    # The recorded delivery's webhookTimestamp is from 2023: signed right, but replayed.
    body = load_payload(own_payloads / "issue-create.json").body
    result = load_handler(HANDLER, settings={"webhookSecret": "lin_wh"}).post(
        body, headers=signed(body, "lin_wh"))
    assert result.error.type == "MessageRejected"
    assert "s old, tolerance is 60 s" in result.error.message
    assert not result.messages


def test_unsupported_type_and_action(load_handler):
    linear = load_handler(HANDLER)
    project = linear.post(json={"type": "Project", "action": "create", "data": {"id": "p"}})
    assert project.error.type == "UnsupportedEventType"
    assert "'Project'" in project.error.message
    restore = linear.post(json={"type": "Issue", "action": "restore", "data": {"id": "i"}})
    assert restore.error.type == "UnsupportedEventType"


def test_a_delivery_naming_nobody_is_refused(load_handler):
    result = load_handler(HANDLER).post(json={"type": "Issue", "action": "create",
                                              "data": {"id": "i"}})
    assert result.error.type == "MessageRejected"
    assert "actor.id, data.userId and data.creatorId are all missing" in result.error.message
