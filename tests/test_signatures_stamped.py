"""Timestamped schemes: good, wrong, stale and missing, against the providers' libraries."""

import datetime
import json

import pytest
import standardwebhooks
import stripe
from paddle_billing.Notifications import Secret, Verifier
from paddle_billing.Notifications.PaddleSignature import PaddleSignature
from slack_sdk.signature import SignatureVerifier

from segfn.signatures import verify_signature
from tests.signing import BODY, SECRET, STALE, now, refused, request, sign


def test_stripe_library_signs_we_verify():
    header = stripe.WebhookSignature.generate_signature_header(BODY.decode(), SECRET)
    verify_signature(request({"Stripe-Signature": header}), "stripe", SECRET)
    wrong = stripe.WebhookSignature.generate_signature_header(BODY.decode(), "other")
    refused("stripe", {"Stripe-Signature": wrong}, "Stripe-Signature does not match the body")
    stale = stripe.WebhookSignature.generate_signature_header(BODY.decode(), SECRET,
                                                              timestamp=now() - 400)
    refused("stripe", {"Stripe-Signature": stale},
            r"stripe: signature is 40\d s old, tolerance is 300 s")
    verify_signature(request({"Stripe-Signature": stale}), "stripe", SECRET, tolerance=500)
    refused("stripe", {}, "stripe: no Stripe-Signature header")


def test_stripe_several_v1_and_bad_headers():
    stamp = now()
    good = stripe.WebhookSignature.generate_signature_header(BODY.decode(), SECRET, stamp)
    rotated = stripe.WebhookSignature.generate_signature_header(BODY.decode(), "old", stamp)
    header = rotated + "," + good.split(",")[1]
    verify_signature(request({"Stripe-Signature": header}), "stripe", SECRET)
    stripe.WebhookSignature.verify_header(BODY.decode(), header, SECRET, tolerance=300)
    refused("stripe", {"Stripe-Signature": "v1=abc"}, "no t= timestamp")
    refused("stripe", {"Stripe-Signature": "t=abc,v1=abc"}, "not a Unix timestamp")
    refused("stripe", {"Stripe-Signature": f"t={stamp}"}, "no v1= signature")


def test_stripe_boundaries_with_now():
    header = {"Stripe-Signature": stripe.WebhookSignature.generate_signature_header(
        BODY.decode(), SECRET, 1000)}
    for clock in (700, 1300):
        verify_signature(request(header), "stripe", SECRET, now=clock)
    refused("stripe", header, "301 s old", now=1301)
    refused("stripe", header, "301 s in the future", now=699)


def test_standard_webhooks_library_both_ways():
    key = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    hook = standardwebhooks.Webhook(key)
    stamp = datetime.datetime.now(tz=datetime.UTC)
    signature = hook.sign("msg_1", stamp, BODY.decode())
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(int(stamp.timestamp())),
               "webhook-signature": signature}
    verify_signature(request(headers), "standard-webhooks", key)
    # Svix's own header names, as Svix and Clerk send them.
    svix = {name.replace("webhook-", "svix-"): value for name, value in headers.items()}
    verify_signature(request(svix), "standard-webhooks", key)
    # Rotation: several space-separated signatures, one good.
    other = standardwebhooks.Webhook("whsec_" + "QUJD" * 8).sign("msg_1", stamp, BODY.decode())
    rotated = {**headers, "webhook-signature": f"{other} {signature}"}
    verify_signature(request(rotated), "standard-webhooks", key)
    hook.verify(BODY, rotated, json_parse=False)  # raises when it disagrees
    refused("standard-webhooks", {**headers, "webhook-signature": other},
            "webhook-signature does not match the body", secret=key)
    refused("standard-webhooks", {**headers, "webhook-id": "msg_2"}, "does not match",
            secret=key)
    old = stamp - datetime.timedelta(seconds=STALE)
    stale = {**headers, "webhook-timestamp": str(int(old.timestamp())),
             "webhook-signature": hook.sign("msg_1", old, BODY.decode())}
    refused("standard-webhooks", stale, "tolerance is 300 s", secret=key)
    refused("standard-webhooks", {}, "no webhook-id header", secret=key)
    refused("standard-webhooks", headers, "secret \\(after whsec_\\) is not base64",
            secret="whsec_not base64!")


def test_slack_documented_vector():
    # https://api.slack.com/authentication/verifying-requests-from-slack
    # ("Validating a request", the /webhook-collect example)
    body = (b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow"
            b"&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner"
            b"&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2F"
            b"commands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
            b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
    headers = {"X-Slack-Request-Timestamp": "1531420618", "X-Slack-Signature":
               "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"}
    verify_signature(request(headers, body), "slack", "8f742231b10e8888abcd99yyyzzz85a5",
                     now=1531420618)
    refused("slack", headers, "signature is \\d+ s old, tolerance is 300 s", body=body,
            secret="8f742231b10e8888abcd99yyyzzz85a5")


def test_slack_library_both_ways():
    verifier = SignatureVerifier(SECRET)
    stamp = str(now())
    headers = {"X-Slack-Request-Timestamp": stamp,
               "X-Slack-Signature": verifier.generate_signature(timestamp=stamp, body=BODY)}
    verify_signature(request(headers), "slack", SECRET)
    assert verifier.is_valid(BODY, stamp, headers["X-Slack-Signature"])
    wrong = SignatureVerifier("other").generate_signature(timestamp=stamp, body=BODY)
    refused("slack", {**headers, "X-Slack-Signature": wrong}, "X-Slack-Signature does not match")
    old = str(now() - STALE)
    stale = {"X-Slack-Request-Timestamp": old,
             "X-Slack-Signature": verifier.generate_signature(timestamp=old, body=BODY)}
    refused("slack", stale, "tolerance is 300 s")
    refused("slack", {"X-Slack-Request-Timestamp": stamp}, "no X-Slack-Signature header")


@pytest.mark.parametrize("tolerance", [0, 10])
def test_tolerance_option_applies(tolerance):
    header = stripe.WebhookSignature.generate_signature_header(BODY.decode(), SECRET,
                                                               now() - 60)
    refused("stripe", {"Stripe-Signature": header}, f"tolerance is {tolerance} s",
            tolerance=tolerance)


def test_paddle_library_both_ways():
    # Paddle's own SDK (paddle-python-sdk) signs and verifies.
    stamp = now()
    signature = PaddleSignature.calculate_hmac(SECRET, f"{stamp}:".encode() + BODY).hexdigest()
    headers = {"Paddle-Signature": f"ts={stamp};h1={signature}"}
    verify_signature(request(headers), "paddle", SECRET)
    assert PaddleSignature().verify(headers["Paddle-Signature"], BODY.decode(), Secret(SECRET))
    assert Verifier().verify(_PaddleRequest(headers), Secret(SECRET))
    refused("paddle", headers, "Paddle-Signature does not match the body", secret="other")
    old = stamp - 10
    stale = {"Paddle-Signature": "ts={};h1={}".format(old, PaddleSignature.calculate_hmac(
        SECRET, f"{old}:".encode() + BODY).hexdigest())}
    assert not Verifier().verify(_PaddleRequest(stale), Secret(SECRET))
    refused("paddle", stale, r"paddle: signature is 1\d s old, tolerance is 5 s")
    verify_signature(request(stale), "paddle", SECRET, tolerance=60)
    refused("paddle", {"Paddle-Signature": f"ts={stamp}"}, "no h1= signature")


class _PaddleRequest:
    """The shape Paddle's Verifier reads: headers and body bytes."""

    def __init__(self, headers):
        self.headers = headers
        self.body = BODY


def _linear_body(stamp):
    return json.dumps({"action": "create", "webhookTimestamp": stamp * 1000}).encode()


# Timestamped schemes without a Python library of the provider's: the recipe its
# documentation gives (tests/signing.py), signed at Unix time `t`.
RECIPES = [
    ("calendly", "Calendly-Webhook-Signature", 180), ("recurly", "Recurly-Signature", 300),
    ("zoom", "x-zm-signature", 300), ("twitch", "Twitch-Eventsub-Message-Signature", 600),
    ("close", "Close-Sig-Hash", 300), ("zendesk", "X-Zendesk-Webhook-Signature", 300),
    ("linear", "Linear-Signature", 60),
]


def _secret(provider, secret):
    # Close's signature key is hex; this one is the hex of the text secret.
    return secret.encode().hex() if provider == "close" else secret


@pytest.mark.parametrize(("provider", "name", "window"), RECIPES)
def test_good_wrong_stale_missing(provider, name, window):
    stamp = now()
    body = _linear_body(stamp) if provider == "linear" else BODY
    key = _secret(provider, SECRET)
    verify_signature(request(sign(provider, body, key, stamp), body), provider, key)
    refused(provider, sign(provider, body, _secret(provider, "other"), stamp),
            f"{provider}: {name} does not match the body", body=body, secret=key)
    refused(provider, sign(provider, body, key, stamp), "does not match the body",
            body=body + b" ", secret=key)
    old = stamp - window - 30
    old_body = _linear_body(old) if provider == "linear" else BODY
    stale = sign(provider, old_body, key, old)
    refused(provider, stale, f"{provider}: signature is \\d+ s old, tolerance is {window} s",
            body=old_body, secret=key)
    verify_signature(request(stale, old_body), provider, key, tolerance=window + 60)
    refused(provider, {}, f"{provider}: no .* header", body=body, secret=key)


def test_linear_needs_its_timestamp_in_a_json_body():
    body = b'{"action": "create"}'
    headers = sign("linear", body)
    refused("linear", headers, "linear: the body has no webhookTimestamp", body=body)
    not_json = b"action=create"
    refused("linear", sign("linear", not_json),
            "linear: request body is not JSON", body=not_json)
