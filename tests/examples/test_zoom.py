import hashlib
import hmac
import json
import time
from pathlib import Path

from segfn import anonymous_id
from segfn.payloads import load_payload

SOURCE = "zoom"
HANDLER = Path(__file__).resolve().parents[2] / "examples" / "zoom.py"
MEETING = {"meeting_id": "1234567890", "meeting_uuid": "4444AAAiAAAAAiAiAiiAii==",
           "topic": "My Meeting", "meeting_type": 8, "host_id": "x1yCzABCDEfg23HiJKl4mN",
           "start_time": "2021-07-13T21:44:51Z", "duration": 60, "account_id": "AAAAAABBBB"}
JILL = {"userId": "rstuvwxyza789-cde"}


def calls(result):
    return [{k: v for k, v in m.items() if k not in ("messageId", "context")}
            for m in result.messages]


def test_participant_joined(load_handler, own_payloads):
    result = load_handler(HANDLER).post_payload(own_payloads / "participant-joined.json")
    assert result.ok, result.error
    stamp = "2021-07-14T02:44:51.572Z"
    assert calls(result) == [
        {"type": "identify", **JILL, "timestamp": stamp,
         "traits": {"name": "Jill Chill", "email": "jchill@example.com"}},
        {"type": "track", **JILL, "event": "Meeting Joined", "timestamp": stamp,
         "properties": {**MEETING, "participant_uuid": "55555AAAiAAAAAiAiAiiAii",
                        "registrant_id": "abcdefghij0-klmnopq23456"}},
    ]


def test_participant_left_says_why(load_handler, own_payloads):
    result = load_handler(HANDLER).post_payload(own_payloads / "participant-left.json")
    assert result.ok, result.error
    track = result.tracks[0]
    assert track["event"] == "Meeting Left"
    assert track["properties"]["leave_time"] == "2021-07-13T22:50:51Z"
    assert track["properties"]["leave_reason"].endswith("Reason: Host ended the meeting.")


def test_guests_and_hosts(load_handler, own_payloads):
    zoom = load_handler(HANDLER)
    body = json.loads(load_payload(own_payloads / "participant-joined.json").body)
    guest = body["payload"]["object"]["participant"]
    guest["participant_user_id"] = ""
    by_email = zoom.post(json=body)
    assert {m["anonymousId"] for m in by_email.messages} == {anonymous_id("jchill@example.com")}
    guest["email"] = ""
    by_uuid = zoom.post(json=body)
    assert {m["anonymousId"] for m in by_uuid.messages} == {"55555AAAiAAAAAiAiAiiAii"}
    started = zoom.post(json={"event": "webinar.started", "payload": {
        "account_id": "A", "object": {"id": 9, "host_id": "host-1", "topic": "Launch"}}})
    assert calls(started) == [{"type": "track", "userId": "host-1", "event": "Webinar Started",
                               "properties": {"meeting_id": "9", "topic": "Launch",
                                              "host_id": "host-1", "account_id": "A"},
                               "timestamp": started.messages[0]["timestamp"]}]


def test_every_payload_runs(load_handler, payload):
    result = load_handler(HANDLER).post_payload(payload)
    assert result.ok, result.error


def signed(body, secret, stamp):
    digest = hmac.new(secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256)
    return {"x-zm-request-timestamp": str(stamp), "x-zm-signature": "v0=" + digest.hexdigest()}


def test_signatures_good_wrong_and_stale(load_handler, own_payloads):
    body = load_payload(own_payloads / "participant-joined.json").body
    zoom = load_handler(HANDLER, settings={"secretToken": "zm_secret"})
    now = int(time.time())
    good = zoom.post(body, headers=signed(body, "zm_secret", now))
    wrong = zoom.post(body, headers=signed(body, "other", now))
    stale = zoom.post(body, headers=signed(body, "zm_secret", now - 600))
    assert good.ok, good.error
    assert [t["event"] for t in good.tracks] == ["Meeting Joined"]
    assert wrong.error.type == stale.error.type == "MessageRejected"
    assert "x-zm-signature does not match" in wrong.error.message
    assert "tolerance is 300 s" in stale.error.message
    assert not wrong.messages and not stale.messages


def test_url_validation_unsupported_and_anonymous(load_handler):
    zoom = load_handler(HANDLER)
    validation = zoom.post(json={"event": "endpoint.url_validation",
                                 "payload": {"plainToken": "qgg8vlvZRS6UYooatFL8Aw"}})
    assert validation.ok and validation.messages == []
    assert list(validation.logs) == ["url_validation for qgg8vlvZRS6UYooatFL8Aw"]
    recording = zoom.post(json={"event": "recording.completed", "payload": {"object": {}}})
    assert recording.error.type == "UnsupportedEventType"
    nobody = zoom.post(json={"event": "meeting.participant_joined",
                             "payload": {"object": {"id": 1, "participant": {"user_name": "X"}}}})
    assert nobody.error.type == "MessageRejected"
    assert "no participant_user_id, email or participant_uuid" in nobody.error.message
