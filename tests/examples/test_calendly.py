import hashlib
import hmac
import json
import time
from pathlib import Path

from segfn import anonymous_id
from segfn.payloads import load_payload

SOURCE = "calendly"
HANDLER = Path(__file__).resolve().parents[2] / "examples" / "calendly.py"
WHO = {"anonymousId": anonymous_id("test@example.com")}
MEETING = {
    "invitee_uri": "https://api.calendly.com/scheduled_events/AAAAAAAAAAAAAAAA/invitees/"
                   "AAAAAAAAAAAAAAAA",
    "event_uri": "https://api.calendly.com/scheduled_events/GBGBDCAADAEDCRZ2",
    "meeting_name": "15 Minute Meeting", "start_time": "2019-08-24T14:15:22.123456Z",
    "end_time": "2019-08-24T14:15:22.123456Z", "location_type": "physical",
    "hosts": ["user@example.com"]}


def calls(result):
    return [{k: v for k, v in m.items() if k not in ("messageId", "context")}
            for m in result.messages]


def test_invitee_created(load_handler, own_payloads):
    result = load_handler(HANDLER).post_payload(own_payloads / "invitee-created.json")
    assert result.ok, result.error
    stamp = "2020-11-23T17:51:19.000Z"
    assert calls(result) == [
        {"type": "identify", **WHO, "timestamp": stamp, "traits": {
            "email": "test@example.com", "name": "John Doe", "timezone": "America/New_York"}},
        {"type": "track", **WHO, "event": "Meeting Scheduled", "timestamp": stamp,
         "properties": MEETING},
    ]


def test_invitee_canceled_says_who_and_why(load_handler, own_payloads):
    result = load_handler(HANDLER).post_payload(own_payloads / "invitee-canceled.json")
    assert result.ok, result.error
    assert result.tracks[0]["event"] == "Meeting Canceled"
    assert result.tracks[0]["properties"] == {
        **MEETING, "canceled_by": "John Doe", "canceler_type": "invitee",
        "cancel_reason": "Meeting Conflict"}


def test_no_show_and_reschedule(load_handler, own_payloads):
    calendly = load_handler(HANDLER)
    no_show = calendly.post_payload(own_payloads / "invitee-no-show-created.json")
    assert no_show.tracks[0]["event"] == "Meeting No Show"
    body = json.loads(load_payload(own_payloads / "invitee-created.json").body)
    body["payload"]["old_invitee"] = "https://api.calendly.com/scheduled_events/B/invitees/B"
    body["payload"]["tracking"]["utm_source"] = "newsletter"
    rescheduled = calendly.post(json=body)
    assert rescheduled.tracks[0]["event"] == "Meeting Rescheduled"
    assert rescheduled.tracks[0]["properties"]["utm_source"] == "newsletter"


def test_every_payload_runs(load_handler, payload):
    result = load_handler(HANDLER).post_payload(payload)
    assert result.ok, result.error


def signed(body, key, stamp):
    digest = hmac.new(key.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Calendly-Webhook-Signature": f"t={stamp},v1={digest}"}


def test_signatures_good_wrong_and_stale(load_handler, own_payloads):
    body = load_payload(own_payloads / "invitee-created.json").body
    calendly = load_handler(HANDLER, settings={"signingKey": "cal_key"})
    now = int(time.time())
    good = calendly.post(body, headers=signed(body, "cal_key", now))
    wrong = calendly.post(body, headers=signed(body, "other", now))
    stale = calendly.post(body, headers=signed(body, "cal_key", now - 600))
    assert good.ok, good.error
    assert [t["event"] for t in good.tracks] == ["Meeting Scheduled"]
    assert wrong.error.type == stale.error.type == "MessageRejected"
    assert "Calendly-Webhook-Signature does not match" in wrong.error.message
    assert "tolerance is 180 s" in stale.error.message
    assert not wrong.messages and not stale.messages


def test_unsupported_event_and_missing_email(load_handler):
    calendly = load_handler(HANDLER)
    routing = calendly.post(json={"event": "routing_form_submission.created", "payload": {}})
    assert routing.error.type == "UnsupportedEventType"
    assert "routing_form_submission.created" in routing.error.message
    nobody = calendly.post(json={"event": "invitee.created", "payload": {"name": "X"}})
    assert nobody.error.type == "MessageRejected"
    assert "payload.email is missing" in nobody.error.message
