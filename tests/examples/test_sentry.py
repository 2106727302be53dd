import hashlib
import hmac
import json
from pathlib import Path

from segfn.payloads import load_payload

SOURCE = "sentry"
HANDLER = Path(__file__).resolve().parents[2] / "examples" / "sentry.py"
PROJECT = {"platform": "python", "project": "zulip-integration-testing",
           "project_id": "5216640", "count": 1, "user_count": 0}


def calls(result):
    return [{k: v for k, v in m.items() if k not in ("messageId", "context", "timestamp")}
            for m in result.messages]


def test_issue_resolved_by_a_user(load_handler, own_payloads):
    result = load_handler(HANDLER).post_payload(own_payloads / "issue-resolved.json")
    assert result.ok, result.error
    assert calls(result) == [
        {"type": "identify", "userId": "662437", "traits": {"name": "Hemanth V. Alluri"}},
        {"type": "track", "userId": "662437", "event": "Issue Resolved", "properties": {
            **PROJECT, "issue_id": "1638821441", "short_id": "ZULIP-INTEGRATION-TESTING-E",
            "title": "Exception: program has entered an invalid state.",
            "culprit": "__main__ in <module>", "level": "error", "status": "resolved",
            "first_seen": "2020-04-30T05:54:15.092476Z",
            "last_seen": "2020-04-30T05:54:15.092476Z"}},
    ]


def test_issue_assigned_identifies_the_assignee(load_handler, own_payloads):
    result = load_handler(HANDLER).post_payload(own_payloads / "issue-assigned.json")
    assert result.ok, result.error
    assert result.identifies[1]["traits"] == {"name": "Hemanth V. Alluri",
                                              "email": "hdrive1999@gmail.com"}
    track = result.tracks[0]
    assert track["event"] == "Issue Assigned"
    assert track["properties"]["assignee_id"] == "662437"
    assert track["properties"]["platform"] == "go"


def test_what_sentry_did_itself_is_anonymous_to_the_installation(load_handler, own_payloads):
    body = json.loads(load_payload(own_payloads / "issue-resolved.json").body)
    body["action"] = "created"
    body["actor"] = {"type": "application", "id": "sentry", "name": "Sentry"}
    result = load_handler(HANDLER).post(json=body, headers={"Sentry-Hook-Resource": "issue"})
    assert result.ok, result.error
    assert calls(result) == [{
        "type": "track", "anonymousId": "65027794-169a-4042-80d0-808ece377141",
        "event": "Issue Created", "properties": result.tracks[0]["properties"]}]
    assert result.identifies == []


def test_every_payload_runs(load_handler, payload):
    result = load_handler(HANDLER).post_payload(payload)
    assert result.ok, result.error


def signed(body, secret):
    return {"Sentry-Hook-Resource": "issue",
            "Sentry-Hook-Signature": hmac.new(secret.encode(), body,
                                              hashlib.sha256).hexdigest()}


def test_signatures(load_handler, own_payloads):
    body = load_payload(own_payloads / "issue-resolved.json").body
    sentry = load_handler(HANDLER, settings={"clientSecret": "sntry"})
    good = sentry.post(body, headers=signed(body, "sntry"))
    bad = sentry.post(body, headers=signed(body, "wrong"))
    assert good.ok, good.error
    assert bad.error.type == "MessageRejected"
    assert "Sentry-Hook-Signature does not match" in bad.error.message
    assert not bad.messages


def test_installation_is_acknowledged_and_alerts_are_refused(load_handler):
    sentry = load_handler(HANDLER)
    installed = sentry.post(json={"action": "created", "data": {"installation": {}}},
                            headers={"Sentry-Hook-Resource": "installation"})
    assert installed.ok and installed.messages == []
    alert = sentry.post(json={"action": "triggered", "data": {"event": {}}},
                        headers={"Sentry-Hook-Resource": "event_alert"})
    assert alert.error.type == "UnsupportedEventType"
    assert "event_alert" in alert.error.message
