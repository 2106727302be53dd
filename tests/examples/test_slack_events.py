import hashlib
import hmac
import time
from pathlib import Path

from segfn.payloads import load_payload

SOURCE = "slack"
HANDLER = Path(__file__).resolve().parents[2] / "examples" / "slack_events.py"


def calls(result):
    return [{k: v for k, v in m.items() if k not in ("messageId", "context")}
            for m in result.messages]


def test_message_sent(load_handler, own_payloads):
    result = load_handler(HANDLER).post_payload(own_payloads / "message.json")
    assert result.ok, result.error
    assert calls(result) == [{
        "type": "track", "userId": "U06NU4E26M9", "event": "Message Sent",
        "timestamp": "2024-06-24T06:11:46.000Z",
        "properties": {"team_id": "T06NRA6HM3P", "event_id": "Ev079SP4TP1P",
                       "channel": "C06NRA6JLER", "channel_type": "channel",
                       "message_ts": "1719209506.817929"}}]


def test_url_verification_is_logged_without_events(load_handler, own_payloads):
    result = load_handler(HANDLER).post_payload(own_payloads / "url-verification.json")
    assert result.ok, result.error
    assert result.messages == []
    assert list(result.logs) == [
        "url_verification: 3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"]


def test_team_join_identifies_the_member(load_handler):
    body = {"type": "event_callback", "team_id": "T1", "event_time": 1719209506,
            "event": {"type": "team_join", "user": {
                "id": "U2", "name": "ada", "real_name": "Ada Lovelace", "tz": "Europe/London",
                "profile": {"email": "ada@example.com"}}}}
    result = load_handler(HANDLER).post(json=body)
    assert result.ok, result.error
    assert result.identifies[0]["traits"] == {"name": "Ada Lovelace", "username": "ada",
                                              "email": "ada@example.com",
                                              "timezone": "Europe/London"}
    assert result.tracks[0]["event"] == "Team Joined"
    assert result.tracks[0]["userId"] == "U2"


def test_reaction_reads_its_item(load_handler):
    body = {"type": "event_callback", "event": {
        "type": "reaction_added", "user": "U3", "reaction": "thumbsup",
        "item": {"type": "message", "channel": "C1", "ts": "1360782400.498405"}}}
    result = load_handler(HANDLER).post(json=body)
    assert result.tracks[0]["properties"] == {"channel": "C1", "reaction": "thumbsup",
                                              "message_ts": "1360782400.498405"}


def test_every_payload_runs(load_handler, payload):
    result = load_handler(HANDLER).post_payload(payload)
    assert result.ok, result.error


def signed(body, secret, stamp):
    digest = hmac.new(secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256)
    return {"X-Slack-Request-Timestamp": str(stamp), "X-Slack-Signature": "v0=" +
            digest.hexdigest()}


def test_signatures_good_wrong_and_stale(load_handler, own_payloads):
    body = load_payload(own_payloads / "message.json").body
    slack = load_handler(HANDLER, settings={"signingSecret": "8f742231b10e8888abcd99yyyzzz85a5"})
    now = int(time.time())
    good = slack.post(body, headers=signed(body, "8f742231b10e8888abcd99yyyzzz85a5", now))
    wrong = slack.post(body, headers=signed(body, "another", now))
    stale = slack.post(body, headers=signed(body, "8f742231b10e8888abcd99yyyzzz85a5",
                                            now - 600))
    assert good.ok, good.error
    assert [t["event"] for t in good.tracks] == ["Message Sent"]
    assert wrong.error.type == "MessageRejected"
    assert "X-Slack-Signature does not match" in wrong.error.message
    assert stale.error.type == "MessageRejected"
    assert "tolerance is 300 s" in stale.error.message
    assert not wrong.messages and not stale.messages


def test_bot_messages_edits_and_other_events_are_refused(load_handler):
    slack = load_handler(HANDLER)
    bot = slack.post(json={"type": "event_callback", "event": {
        "type": "message", "subtype": "bot_message", "bot_id": "B1"}})
    edit = slack.post(json={"type": "event_callback", "event": {
        "type": "message", "subtype": "message_changed", "user": "U1"}})
    channel = slack.post(json={"type": "event_callback", "event": {"type": "channel_created"}})
    assert bot.error.type == edit.error.type == channel.error.type == "UnsupportedEventType"
    assert "'message/bot_message'" in bot.error.message
    assert "'channel_created'" in channel.error.message
