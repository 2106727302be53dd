"""examples/intercom.py: conversation webhooks become identify, track and objects."""

import hashlib
import hmac
import json
from pathlib import Path

import pytest

from segfn import anonymous_id

SOURCE = "intercom"  # conftest.py: the payloads fixture is payloads/intercom/
HANDLER = Path(__file__).resolve().parents[2] / "examples" / "intercom.py"
SECRET = "intercom-client-secret"
REPLIED = "conversation.admin.replied.json"


def body_of(path):
    return json.loads(path.read_text())["payload"]["body"]


def signature(raw, secret=SECRET):
    return "sha1=" + hmac.new(secret.encode(), raw, hashlib.sha1).hexdigest()


def test_admin_replied(load_handler, payloads):
    result = load_handler(HANDLER).post_payload(payloads / REPLIED)
    assert result.ok, result.error
    identify, track = result.messages
    assert identify["type"] == "identify"
    assert identify["userId"] == "pTRbgo1ntI"
    assert identify["traits"] == {"name": "Alex Millet", "email": "alex@segment.com",
                                  "intercom_id": "56216a64e28f0d6d0f000610"}
    assert track["type"] == "track"
    assert track["event"] == "Conversation Replied"
    assert track["userId"] == "pTRbgo1ntI"
    assert track["properties"] == {
        "conversation_id": "22593792698",
        "state": "open",
        "author_type": "admin",
        "author_name": "Segment Friends",
        "assignee_id": "24385",
        "assignee_name": "Segment Friends",
        "url": "https://app.intercom.io/a/apps/896jf8ja/conversations/22593792698",
    }
    assert track["messageId"] == "notif_5f764d6a-108a-4e8e-8714-1d232a5b1e44"
    assert track["timestamp"] == "2019-06-25T01:24:59.000Z"
    assert result.objects == [{
        "collection": "conversations",
        "id": "22593792698",
        "properties": {"state": "open", "read": False, "user_id": "pTRbgo1ntI",
                       "user_email": "alex@segment.com", "assignee_id": "24385",
                       "created_at": "2019-06-25T01:17:57.000Z",
                       "updated_at": "2019-06-25T01:24:58.000Z"},
    }]


@pytest.mark.parametrize("topic, event", [
    ("conversation.user.created", "Conversation Started"),
    ("conversation.admin.closed", "Conversation Closed"),
    ("conversation.rating.added", "Conversation Rated"),
])
def test_other_topics(load_handler, payloads, topic, event):
    body = body_of(payloads / REPLIED)
    body["topic"] = topic
    result = load_handler(HANDLER).post(json=body)
    assert result.ok, result.error
    assert [t["event"] for t in result.tracks] == [event]


def test_lead_without_user_id_is_known_by_email(load_handler, payloads):
    body = body_of(payloads / REPLIED)
    del body["data"]["item"]["user"]["user_id"]
    result = load_handler(HANDLER).post(json=body)
    assert result.ok, result.error
    for message in result.messages:
        assert message["anonymousId"] == anonymous_id("alex@segment.com")
        assert "userId" not in message


def test_good_signature_is_accepted(load_handler, payloads):
    raw = json.dumps(body_of(payloads / REPLIED)).encode()
    result = load_handler(HANDLER, settings={"clientSecret": SECRET}).post(
        body=raw, headers={"X-Hub-Signature": signature(raw)})
    assert result.ok, result.error
    assert [t["event"] for t in result.tracks] == ["Conversation Replied"]


@pytest.mark.parametrize("header", [
    signature(b"{}"),  # signed over another body
    signature(b"", secret="another secret"),
    "sha256=00",
])
def test_bad_signature_is_rejected(load_handler, payloads, header):
    raw = json.dumps(body_of(payloads / REPLIED)).encode()
    result = load_handler(HANDLER, settings={"clientSecret": SECRET}).post(
        body=raw, headers={"X-Hub-Signature": header})
    assert result.error.type == "MessageRejected"
    assert "X-Hub-Signature" in result.error.message
    assert result.messages == []


def test_unsigned_delivery_is_rejected_when_a_secret_is_set(load_handler, payloads):
    result = load_handler(HANDLER, settings={"clientSecret": SECRET}).post_payload(
        payloads / REPLIED)
    assert result.error.type == "MessageRejected"
    assert "missing X-Hub-Signature" in result.error.message


def test_unsupported_topic(load_handler, payloads):
    body = body_of(payloads / REPLIED)
    body["topic"] = "ping"
    result = load_handler(HANDLER).post(json=body)
    assert result.error.type == "UnsupportedEventType"
    assert "ping" in result.error.message


def test_customer_known_only_by_intercom_id_is_anonymous(load_handler, payloads):
    body = body_of(payloads / REPLIED)
    body["data"]["item"]["user"] = {"type": "user", "id": "56216a64e28f0d6d0f000610"}
    result = load_handler(HANDLER).post(json=body)
    assert result.ok, result.error
    assert {m["anonymousId"] for m in result.messages} == {"intercom:56216a64e28f0d6d0f000610"}


def test_conversation_without_any_customer_is_rejected(load_handler, own_payloads):
    body = body_of(own_payloads / "conversation.admin.open.assigned.json")
    item = body["data"]["item"]
    item["contacts"]["contacts"] = []
    item["source"]["author"] = {"type": "admin", "id": "9608799"}
    result = load_handler(HANDLER).post(json=body)
    assert result.error.type == "MessageRejected"
    assert "names no customer" in result.error.message


def test_api_2_open_assigned(load_handler, own_payloads):
    """Intercom 2.x: contacts, source and admin_assignee_id instead of user and assignee."""
    result = load_handler(HANDLER).post_payload(
        own_payloads / "conversation.admin.open.assigned.json")
    assert result.ok, result.error
    customer = {"userId": "5e68ece4-0ec8-4792-baac-02deba39e7fe"}
    assert [{k: v for k, v in m.items() if k not in ("context",)} for m in result.messages] == [
        {"type": "identify", **customer, "timestamp": "2026-01-10T08:00:01.000Z",
         "traits": {"intercom_id": "696205460674dbb9050aa7fd"},
         "messageId": result.messages[0]["messageId"]},
        {"type": "track", **customer, "event": "Conversation Assigned",
         "timestamp": "2026-01-10T08:00:01.000Z",
         "messageId": "notif_58e78c8e-1755-4e61-954a-dc1bb1cead0d",
         "properties": {"conversation_id": "215472621202693", "state": "open",
                        "author_type": "admin", "author_name": "John Doe",
                        "assignee_id": "9608799"}},
    ]
    assert result.objects == [{
        "collection": "conversations", "id": "215472621202693",
        "properties": {"state": "open", "read": False,
                       "user_id": "5e68ece4-0ec8-4792-baac-02deba39e7fe",
                       "assignee_id": "9608799", "created_at": "2026-01-10T07:56:29.000Z",
                       "updated_at": "2026-01-10T08:00:00.000Z"}}]


@pytest.mark.parametrize("name, events", [(REPLIED, ["Conversation Replied"])])
def test_recorded_deliveries(load_handler, payloads, name, events):
    result = load_handler(HANDLER).post_payload(payloads / name)
    assert result.ok, result.error
    assert [m["event"] for m in result.messages if m["type"] == "track"] == events
    assert [o["collection"] for o in result.objects] == ["conversations"]


def test_api_1_admin_snoozed(load_handler, own_payloads):
    result = load_handler(HANDLER).post_payload(own_payloads / "conversation.admin.snoozed.json")
    assert result.ok, result.error
    identify, track = result.messages
    assert identify["userId"] == track["userId"] == "75067020-1204-495c-8edc-abb7d88bdd43"
    assert identify["traits"] == {"name": "Eeshan Garg", "email": "jerryguitarist@gmail.com",
                                  "intercom_id": "5c9553cb27e377f24eed49f7"}
    assert track["event"] == "Conversation Snoozed"
    assert track["properties"] == {
        "conversation_id": "21330067382", "state": "snoozed", "author_type": "admin",
        "author_name": "Eeshan Garg", "assignee_id": "1957471", "assignee_name": "Cordelia Lear",
        "url": "https://app.intercom.io/a/apps/i6wc9ipe/conversations/21330067382"}
    assert track["messageId"] == "notif_0530a65a-8052-4f67-9070-a50f1363dc68"
    assert [(o["collection"], o["id"]) for o in result.objects] == [
        ("conversations", "21330067382")]


ADMIN_TOPICS = [
    ("conversation.admin.replied", "Conversation Replied"),
    ("conversation.admin.single.created", "Conversation Started"),
    ("conversation.admin.assigned", "Conversation Assigned"),
    ("conversation.admin.open.assigned", "Conversation Assigned"),
    ("conversation.admin.noted", "Conversation Noted"),
    ("conversation.admin.unsnoozed", "Conversation Unsnoozed"),
    ("conversation.admin.closed", "Conversation Closed"),
    ("conversation.admin.opened", "Conversation Reopened"),
    ("conversation.admin.snoozed", "Conversation Snoozed"),
]


@pytest.mark.parametrize("topic, event", ADMIN_TOPICS)
def test_every_admin_topic_the_readme_claims(load_handler, own_payloads, topic, event):
    body = body_of(own_payloads / "conversation.admin.snoozed.json")
    body["topic"] = topic
    result = load_handler(HANDLER).post(json=body)
    assert result.ok, result.error
    assert [t["event"] for t in result.tracks] == [event]


@pytest.mark.parametrize("topic", ["conversation.priority.updated", "conversation.read",
                                   "conversation.deleted", "ticket.admin.assigned"])
def test_unclaimed_conversation_topics_are_not_supported(load_handler, own_payloads, topic):
    body = body_of(own_payloads / "conversation.admin.snoozed.json")
    body["topic"] = topic
    result = load_handler(HANDLER).post(json=body)
    assert result.error.type == "UnsupportedEventType"
    assert topic in result.error.message
