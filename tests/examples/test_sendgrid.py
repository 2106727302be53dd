from pathlib import Path

from segfn import anonymous_id

SOURCE = "sendgrid"
HANDLER = Path(__file__).resolve().parents[2] / "examples" / "sendgrid.py"
WHO = anonymous_id("example@test.com")


def test_every_documented_event_is_tracked(load_handler, own_payloads):
    result = load_handler(HANDLER).post_payload(own_payloads / "every-event.json")
    assert result.ok, result.error
    assert [t["event"] for t in result.tracks] == [
        "Email Processed", "Email Deferred", "Email Delivered", "Email Opened",
        "Email Link Clicked", "Email Bounced", "Email Dropped", "Email Marked as Spam",
        "Unsubscribed", "Group Unsubscribed", "Group Resubscribed"]
    assert {t["anonymousId"] for t in result.tracks} == {WHO}
    assert {t["timestamp"] for t in result.tracks} == {"2017-12-15T00:59:29.000Z"}
    deferred, click, bounce = result.tracks[1], result.tracks[4], result.tracks[5]
    assert deferred["properties"] == {
        "email": "example@test.com", "email_id": "sg_message_id", "event_id": "sg_event_id",
        "smtp_id": "<14c5d75ce93.dfd.64b469@ismtpd-555>", "categories": ["cat facts"],
        "reason": "400 try again later", "attempt": 5, "ip": "168.1.1.1"}
    assert click["properties"]["link_url"] == "http://www.sendgrid.com/"
    assert bounce["properties"]["reason"] == "500 unknown recipient"
    assert bounce["properties"]["status"] == "5.0.0"
    assert result.tracks[3]["properties"]["machine_open"] is False


def test_a_user_id_custom_argument_is_the_user(load_handler):
    result = load_handler(HANDLER).post(json=[{
        "email": "ada@example.com", "event": "open", "timestamp": 1700000000,
        "userId": "u-42", "category": ["welcome", "onboarding"]}])
    assert result.ok, result.error
    assert result.tracks[0]["userId"] == "u-42"
    assert result.tracks[0]["properties"]["categories"] == ["welcome", "onboarding"]


def test_unknown_events_in_a_batch_are_logged_and_skipped(load_handler):
    result = load_handler(HANDLER).post(json=[
        {"email": "a@example.com", "event": "delivered"},
        {"email": "a@example.com", "event": "account_status_change"}])
    assert [t["event"] for t in result.tracks] == ["Email Delivered"]
    assert list(result.logs) == ["skipped event 'account_status_change'"]


def test_every_payload_runs(load_handler, payload):
    result = load_handler(HANDLER).post_payload(payload)
    assert result.ok, result.error


def test_refusals(load_handler):
    sendgrid = load_handler(HANDLER)
    single = sendgrid.post(json={"email": "a@example.com", "event": "open"})
    assert single.error.type == "MessageRejected"
    assert "an array of events" in single.error.message
    unknown = sendgrid.post(json=[{"event": "account_status_change"}])
    assert unknown.error.type == "UnsupportedEventType"
    anonymous = sendgrid.post(json=[{"event": "open"}])
    assert anonymous.error.type == "MessageRejected"
    assert "a open event has no email" in anonymous.error.message
