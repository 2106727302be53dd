"""examples/talkable.py: referral webhooks become events about advocates and friends."""

import json
from pathlib import Path

import pytest

from segfn import anonymous_id
from tests.examples.conftest import stable

SOURCE = "talkable"  # conftest.py: the payloads fixture is payloads/talkable/
HANDLER = Path(__file__).resolve().parents[2] / "examples" / "talkable.py"
SECURITY_KEY = "b3ab02149bd6aa9caefa7cad9e410236"  # the key the recorded deliveries carry
JOHN = anonymous_id("john@example.com")
REFERRER = anonymous_id("referrer@example.com")


def body_of(path):
    return json.loads(path.read_text())["payload"]["body"]


def test_offer_signup(load_handler, payloads):
    result = load_handler(HANDLER).post_payload(payloads / "offer_signup_web_hook.json")
    assert result.ok, result.error
    identify, track = result.messages
    assert identify["type"] == "identify"
    assert identify["anonymousId"] == JOHN
    assert "userId" not in identify
    assert identify["traits"] == {"email": "john@example.com", "firstName": "John",
                                  "lastName": "Doe", "subscribed": False, "referral_count": 0}
    assert track["event"] == "Offer Signed Up"
    assert track["anonymousId"] == JOHN
    assert track["properties"] == {"campaign_id": 190976863,
                                   "campaign_type": "StandaloneCampaign", "test": True,
                                   "short_url_code": "1a2PV", "subscribed": False}


def test_claim_signup(load_handler, payloads):
    result = load_handler(HANDLER).post_payload(payloads / "claim_signup_web_hook.json")
    assert result.ok, result.error
    identify, track = result.messages
    assert identify["anonymousId"] == JOHN
    assert identify["traits"] == {"email": "john@example.com", "subscribed": True,
                                  "opted_in_at": "2019-06-27T10:34:36.026-07:00",
                                  "referral_count": 0}
    assert track["event"] == "Offer Claimed"
    assert track["anonymousId"] == JOHN
    assert track["properties"]["campaign_id"] == 465557015


def test_post_share(load_handler, payloads):
    result = load_handler(HANDLER).post_payload(payloads / "post_share_web_hook.json")
    assert result.ok, result.error
    [track] = result.messages
    assert track["event"] == "Offer Shared"
    assert track["anonymousId"] == REFERRER
    assert track["properties"] == {"campaign_id": 245711250,
                                   "campaign_type": "StandaloneCampaign", "test": True,
                                   "share_type": "email", "recipient_count": 1}


def test_referral(load_handler, payloads):
    result = load_handler(HANDLER).post_payload(payloads / "referral_web_hook.json")
    assert result.ok, result.error
    identify, track = result.messages
    assert (identify["userId"], identify["anonymousId"]) == ("39631676", REFERRER)
    assert identify["traits"] == {"email": "referrer@example.com", "firstName": "Bob",
                                  "lastName": "Crane", "subscribed": False,
                                  "referral_count": 1}
    assert track["event"] == "Referral Approved"
    assert (track["userId"], track["anonymousId"]) == ("39631676", REFERRER)
    assert track["properties"] == {
        "campaign_id": 181323269,
        "campaign_type": "StandaloneCampaign",
        "test": True,
        "referred_email": "referred@example.com",
        "order_id": "764849181",
        "subtotal": 72.55,
        "coupon": "WHT49748",
        "reward_amount": 5.0,
        "reward_incentive": "rebate",
        "reward_description": "$5.00 back",
    }


def test_reward(load_handler, payloads):
    result = load_handler(HANDLER).post_payload(payloads / "reward_web_hook.json")
    assert result.ok, result.error
    [track] = result.messages
    assert track["event"] == "Reward Earned"
    assert (track["userId"], track["anonymousId"]) == ("793883414", REFERRER)
    assert track["properties"] == {
        "campaign_id": 586902028,
        "campaign_type": "StandaloneCampaign",
        "test": True,
        "reason": "share",
        "incentive_type": "discount_coupon",
        "description": 'shared coupon "SAMPLE-COUPON-CODE" for $10.00 off',
        "coupon": "SAMPLE-COUPON-CODE",
    }


def test_matching_security_key_is_accepted(load_handler, payloads):
    handler = load_handler(HANDLER, settings={"securityKey": SECURITY_KEY})
    raw = json.dumps(body_of(payloads / "reward_web_hook.json")).encode()
    result = handler.post(body=raw)
    assert result.ok, result.error
    assert [t["event"] for t in result.tracks] == ["Reward Earned"]


@pytest.mark.parametrize("key", ["0" * 32, None])
def test_wrong_or_missing_security_key_is_rejected(load_handler, payloads, key):
    body = body_of(payloads / "reward_web_hook.json")
    body["key"] = key
    handler = load_handler(HANDLER, settings={"securityKey": SECURITY_KEY})
    result = handler.post(body=json.dumps(body).encode())
    assert result.error.type == "MessageRejected"
    assert "security key" in result.error.message


def test_unsupported_webhook(load_handler, payloads):
    body = body_of(payloads / "reward_web_hook.json")
    body["type"] = "create_coupon_web_hook"
    result = load_handler(HANDLER).post(json=body)
    assert result.error.type == "UnsupportedEventType"
    assert "create_coupon_web_hook" in result.error.message


def test_signup_without_email_or_customer_id_is_rejected(load_handler, payloads):
    body = body_of(payloads / "offer_signup_web_hook.json")
    del body["payload"]["email"]
    result = load_handler(HANDLER).post(json=body)
    assert result.error.type == "MessageRejected"
    assert "payload has neither email nor customer_id" in result.error.message


def test_person_known_only_by_customer_id_is_tracked(load_handler, payloads):
    body = body_of(payloads / "referral_web_hook.json")
    del body["payload"]["referrer"]["origin"]["email"]
    result = load_handler(HANDLER).post(json=body)
    assert result.ok, result.error
    [track] = result.tracks
    assert track["userId"] == "39631676"
    assert "anonymousId" not in track


# Talkable's own deliveries: form-encoded, the JSON in the payload parameter.
def test_form_encoded_reward(load_handler, own_payloads):
    result = load_handler(HANDLER, settings={"securityKey": SECURITY_KEY}).post_payload(
        own_payloads / "form-reward-web-hook.json")
    assert result.ok, result.error
    [track] = result.messages
    assert track["event"] == "Reward Earned"
    assert (track["userId"], track["anonymousId"]) == ("793883414", REFERRER)
    assert track["properties"]["test"] is True
    assert track["properties"]["coupon"] == "SAMPLE-COUPON-CODE"


def test_form_encoded_offer_signup(load_handler, own_payloads, payloads):
    form = load_handler(HANDLER).post_payload(own_payloads / "form-offer-signup-web-hook.json")
    as_json = load_handler(HANDLER).post_payload(payloads / "offer_signup_web_hook.json")
    assert form.ok, form.error
    assert [m["type"] for m in form.messages] == ["identify", "track"]
    assert stable(form.messages) == stable(as_json.messages)


def test_form_encoded_with_the_wrong_key_is_rejected(load_handler, own_payloads):
    handler = load_handler(HANDLER, settings={"securityKey": "0" * 32})
    result = handler.post_payload(own_payloads / "form-reward-web-hook.json")
    assert result.error.type == "MessageRejected"
    assert "security key" in result.error.message


def test_whole_webhook_in_the_payload_parameter(load_handler, payloads):
    body = body_of(payloads / "reward_web_hook.json")
    result = load_handler(HANDLER).post(data={"payload": json.dumps(body)})
    assert result.ok, result.error
    assert [t["event"] for t in result.tracks] == ["Reward Earned"]


@pytest.mark.parametrize("data, message", [
    ({"type": "reward_web_hook"}, "the payload parameter is missing"),
    ({"type": "reward_web_hook", "payload": "{not json"}, "the payload parameter is not JSON"),
])
def test_form_without_a_json_payload_is_rejected(load_handler, data, message):
    result = load_handler(HANDLER).post(data=data)
    assert result.error.type == "MessageRejected"
    assert message in result.error.message


@pytest.mark.parametrize("name, events", [
    ("claim_signup_web_hook.json", ["Offer Claimed"]),
    ("offer_signup_web_hook.json", ["Offer Signed Up"]),
    ("post_share_web_hook.json", ["Offer Shared"]),
    ("referral_web_hook.json", ["Referral Approved"]),
    ("reward_web_hook.json", ["Reward Earned"]),
])
def test_recorded_deliveries(load_handler, payloads, name, events):
    result = load_handler(HANDLER).post_payload(payloads / name)
    assert result.ok, result.error
    assert [m["event"] for m in result.messages if m["type"] == "track"] == events
