from pathlib import Path

from segfn import anonymous_id

SOURCE = "mailchimp"
HANDLER = Path(__file__).resolve().parents[2] / "examples" / "mailchimp.py"
FORM = "application/x-www-form-urlencoded"


def calls(result):
    return [{k: v for k, v in m.items() if k not in ("messageId", "context")}
            for m in result.messages]


def test_subscribe(load_handler, own_payloads):
    result = load_handler(HANDLER).post_payload(own_payloads / "subscribe.json")
    assert result.ok, result.error
    who = {"anonymousId": anonymous_id("api@mailchimp.com")}
    assert calls(result) == [
        {"type": "identify", **who, "timestamp": "2009-03-26T21:35:57.000Z", "traits": {
            "email": "api@mailchimp.com", "firstName": "MailChimp", "lastName": "API",
            "interests": ["Group1", "Group2"], "emailType": "html"}},
        {"type": "track", **who, "event": "Subscribed", "timestamp": "2009-03-26T21:35:57.000Z",
         "properties": {"list_id": "a6b5da1054", "member_id": "8a25ff1d98"}},
    ]


def test_unsubscribe_carries_action_reason_and_campaign(load_handler, own_payloads):
    result = load_handler(HANDLER).post_payload(own_payloads / "unsubscribe.json")
    assert result.ok, result.error
    assert result.identifies == []
    track = result.tracks[0]
    assert track["anonymousId"] == anonymous_id("api+unsub@mailchimp.com")
    assert track["event"] == "Unsubscribed"
    assert track["properties"] == {"list_id": "a6b5da1054", "member_id": "8a25ff1d98",
                                   "campaign_id": "cb398d21d2", "action": "unsub",
                                   "reason": "manual"}


def test_an_email_change_is_on_the_new_address(load_handler, own_payloads):
    result = load_handler(HANDLER).post_payload(own_payloads / "upemail.json")
    assert result.ok, result.error
    new = anonymous_id("api+new@mailchimp.com")
    assert [m["anonymousId"] for m in result.messages] == [new, new]
    assert result.tracks[0]["event"] == "Email Address Changed"
    assert result.tracks[0]["properties"]["previous_email"] == "api+old@mailchimp.com"


def test_cleaned_and_campaign(load_handler, own_payloads):
    mailchimp = load_handler(HANDLER)
    cleaned = mailchimp.post_payload(own_payloads / "cleaned.json")
    assert cleaned.tracks[0]["event"] == "Email Cleaned"
    assert cleaned.tracks[0]["properties"]["reason"] == "hard"
    campaign = mailchimp.post_payload(own_payloads / "campaign.json")
    assert campaign.ok and campaign.messages == []
    assert list(campaign.logs) == ["campaign 5aa2102003 sent"]


def test_every_payload_runs(load_handler, payload):
    result = load_handler(HANDLER).post_payload(payload)
    assert result.ok, result.error


def test_refusals(load_handler):
    mailchimp = load_handler(HANDLER)
    unknown = mailchimp.post("type=tagged&data[email]=a@example.com", content_type=FORM)
    assert unknown.error.type == "UnsupportedEventType"
    assert "'tagged'" in unknown.error.message
    untyped = mailchimp.post("data[email]=a@example.com", content_type=FORM)
    assert untyped.error.type == "MessageRejected"
    nobody = mailchimp.post("type=subscribe&data[list_id]=1", content_type=FORM)
    assert nobody.error.type == "MessageRejected"
    assert "the subscribe webhook has no email" in nobody.error.message
