import hashlib
import hmac
from pathlib import Path

from segfn.payloads import load_payload

SOURCE = "meta"
HANDLER = Path(__file__).resolve().parents[2] / "examples" / "meta.py"
SETTINGS = {"verifyToken": "meatyhamhock"}
PHONE = {"business_account_id": "102290129340398", "phone_number_id": "123456123"}


def calls(result):
    # An identify carries no time of Meta's: the one completed for it is left out.
    return [{k: v for k, v in m.items() if k not in ("messageId", "context")
             and not (k == "timestamp" and m["type"] == "identify")} for m in result.messages]


def test_verification_answers_the_challenge(load_handler):
    # Meta's Webhooks docs: a GET with hub.mode=subscribe, hub.challenge and
    # hub.verify_token; once the token is the one set, respond with the challenge.
    result = load_handler(HANDLER, settings=SETTINGS).get(query={
        "hub.mode": "subscribe", "hub.challenge": "1158201444",
        "hub.verify_token": "meatyhamhock"})
    assert result.ok, result.error
    assert result.messages == []
    assert result.reply is not None
    assert result.reply.content_type == "text/plain; charset=utf-8"
    assert result.reply.body == "1158201444"


def test_verification_with_a_wrong_token_or_mode_is_refused(load_handler):
    meta = load_handler(HANDLER, settings=SETTINGS)
    wrong = meta.get(query={"hub.mode": "subscribe", "hub.challenge": "1",
                            "hub.verify_token": "guess"})
    unsubscribe = meta.get(query={"hub.mode": "unsubscribe", "hub.challenge": "1",
                                  "hub.verify_token": "meatyhamhock"})
    assert wrong.error.type == unsubscribe.error.type == "MessageRejected"
    assert "hub.verify_token does not match" in wrong.error.message
    assert "hub.mode must be 'subscribe'" in unsubscribe.error.message
    assert wrong.reply is None and unsubscribe.reply is None


def test_message_received(load_handler, own_payloads):
    result = load_handler(HANDLER).post_payload(own_payloads / "message-received.json")
    assert result.ok, result.error
    assert calls(result) == [
        {"type": "identify", "userId": "16315551181", "traits": {"name": "test user name"}},
        {"type": "track", "userId": "16315551181", "event": "Message Received",
         "timestamp": "2017-09-08T20:36:28.000Z",
         "properties": {**PHONE, "message_id": "ABGGFlA5Fpa", "message_type": "text"}},
    ]


def test_status_delivered(load_handler, own_payloads):
    result = load_handler(HANDLER).post_payload(own_payloads / "status-delivered.json")
    assert result.ok, result.error
    assert calls(result) == [
        {"type": "track", "userId": "16315551181", "event": "Message Delivered",
         "timestamp": "2020-10-18T22:13:21.000Z",
         "properties": {**PHONE, "message_id": "wamid.HBgLMTYzMTU1NTExODEVAgARGBI"}}]


def test_every_payload_runs(load_handler, payload):
    result = load_handler(HANDLER).post_payload(payload)
    assert result.ok, result.error


def test_signatures_good_and_wrong(load_handler, own_payloads):
    body = load_payload(own_payloads / "message-received.json").body
    meta = load_handler(HANDLER, settings={**SETTINGS, "appSecret": "app_secret"})

    def signed(secret):
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return {"X-Hub-Signature-256": f"sha256={digest}"}

    good = meta.post(body, headers=signed("app_secret"))
    wrong = meta.post(body, headers=signed("other"))
    unsigned = meta.post(body)
    assert good.ok, good.error
    assert wrong.error.type == unsigned.error.type == "MessageRejected"
    assert "X-Hub-Signature-256 does not match" in wrong.error.message
    assert not wrong.messages and not unsigned.messages


def test_other_objects_and_fields_are_unsupported(load_handler):
    meta = load_handler(HANDLER)
    page = meta.post(json={"object": "page", "entry": []})
    account = meta.post(json={"object": "whatsapp_business_account", "entry": [
        {"id": "1", "changes": [{"field": "account_update", "value": {}}]}]})
    assert page.error.type == account.error.type == "UnsupportedEventType"
    assert "'page'" in page.error.message
    assert "['account_update']" in account.error.message
