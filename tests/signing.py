"""Requests for the signature tests: a body, its headers, the URL it was posted to, and
each provider's signing recipe (`sign`), which the example tests use too."""

import base64
import datetime
import hashlib
import hmac
import time

import pytest
import stripe
from Adyen.util import generate_notification_sig
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from paddle_billing.Notifications.PaddleSignature import PaddleSignature
from slack_sdk.signature import SignatureVerifier

from segfn.errors import ValidationError
from segfn.request import Request
from segfn.signatures import verify_signature

BODY = b'{"id": 1, "name": "caf\xc3\xa9"}'
SECRET = "s3cret"
URL = "https://hooks.example.com/webhooks/in?source=test"
STALE = 3600


def request(headers, body=BODY, url=URL):
    return Request(body, headers, url)


def mac(data, secret=SECRET, algorithm="sha256"):
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, data, getattr(hashlib, algorithm)).digest()


def b64(raw):
    return base64.b64encode(raw).decode()


def now():
    return int(time.time())


def refused(provider, headers, match, *, body=BODY, secret=SECRET, url=URL, **options):
    with pytest.raises(ValidationError, match=match) as caught:
        verify_signature(request(headers, body, url), provider, secret, **options)
    assert str(caught.value).startswith(f"{provider}: ")


def _hex(key, data, algorithm="sha256"):
    return mac(data, key, algorithm).hex()


def rfc3339(stamp):
    return datetime.datetime.fromtimestamp(stamp, tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sendgrid_key():
    """A P-256 key pair as SendGrid makes one: the private key, and the public key as its
    settings page shows it (base64 DER)."""
    private = ec.generate_private_key(ec.SECP256R1())
    der = private.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, b64(der)


def _sendgrid(private, t, body):
    signature = private.sign(str(t).encode() + body, ec.ECDSA(hashes.SHA256()))
    return {"X-Twilio-Email-Event-Webhook-Signature": b64(signature),
            "X-Twilio-Email-Event-Webhook-Timestamp": str(t)}


# provider -> (secret, Unix time t, body) -> the headers the provider sends. The provider's
# own library signs where it has one; otherwise the recipe its documentation gives.
SIGNERS = {
    # https://shopify.dev/docs/apps/build/webhooks/subscribe/https#step-5-verify-the-webhook
    "shopify": lambda key, t, body: {"X-Shopify-Hmac-Sha256": b64(mac(body, key))},
    # https://www.typeform.com/developers/webhooks/secure-your-webhooks/
    "typeform": lambda key, t, body: {"Typeform-Signature": "sha256=" + b64(mac(body, key))},
    # https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
    "github": lambda key, t, body: {"X-Hub-Signature-256": "sha256=" + _hex(key, body)},
    # https://woocommerce.github.io/woocommerce-rest-api-docs/#webhooks
    "woocommerce": lambda key, t, body: {"X-WC-Webhook-Signature": b64(mac(body, key))},
    # https://developers.intercom.com/docs/references/webhooks/webhook-models#signed-notifications
    "intercom": lambda key, t, body: {"X-Hub-Signature": "sha1=" + _hex(key, body, "sha1")},
    # https://vercel.com/docs/webhooks/webhooks-api#securing-webhooks
    "vercel": lambda key, t, body: {"x-vercel-signature": _hex(key, body, "sha1")},
    # https://developers.asana.com/docs/webhooks-guide#security
    "asana": lambda key, t, body: {"X-Hook-Signature": _hex(key, body)},
    # https://docs.sentry.io/organization/integrations/integration-platform/webhooks/
    "sentry": lambda key, t, body: {"Sentry-Hook-Signature": _hex(key, body)},
    # stripe-python
    "stripe": lambda key, t, body: {"Stripe-Signature": stripe.WebhookSignature
                                    .generate_signature_header(body.decode(), key, t)},
    # slack_sdk
    "slack": lambda key, t, body: {"X-Slack-Request-Timestamp": str(t), "X-Slack-Signature":
                                   SignatureVerifier(key).generate_signature(
                                       timestamp=str(t), body=body)},
    # paddle-python-sdk
    "paddle": lambda key, t, body: {"Paddle-Signature": "ts={};h1={}".format(
        t, PaddleSignature.calculate_hmac(key, f"{t}:".encode() + body).hexdigest())},
    # https://developer.calendly.com/api-docs/4c305798a61d3-webhook-signatures
    "calendly": lambda key, t, body: {
        "Calendly-Webhook-Signature": f"t={t},v1={_hex(key, f'{t}.'.encode() + body)}"},
    # https://recurly.com/developers/guides/signature-verification.html
    "recurly": lambda key, t, body: {
        "Recurly-Signature": f"{t * 1000},{_hex(key, f'{t * 1000}.'.encode() + body)}"},
    # https://developers.zoom.us/docs/api/webhooks/#verify-webhook-events
    "zoom": lambda key, t, body: {
        "x-zm-request-timestamp": str(t),
        "x-zm-signature": "v0=" + _hex(key, f"v0:{t}:".encode() + body)},
    # https://dev.twitch.tv/docs/eventsub/handling-webhook-events/#verifying-the-event-message
    "twitch": lambda key, t, body: {
        "Twitch-Eventsub-Message-Id": "e76c6bd4-55c9-4987-8304-da1588d8988b",
        "Twitch-Eventsub-Message-Timestamp": rfc3339(t),
        "Twitch-Eventsub-Message-Signature": "sha256=" + _hex(
            key, b"e76c6bd4-55c9-4987-8304-da1588d8988b" + rfc3339(t).encode() + body)},
    # https://developer.close.com/topics/webhooks/#webhook-signatures (the key is hex)
    "close": lambda key, t, body: {
        "close-sig-timestamp": str(t),
        "close-sig-hash": _hex(bytes.fromhex(key), str(t).encode() + body)},
    # https://developer.zendesk.com/documentation/webhooks/verifying/
    "zendesk": lambda key, t, body: {
        "X-Zendesk-Webhook-Signature-Timestamp": rfc3339(t),
        "X-Zendesk-Webhook-Signature": b64(mac(rfc3339(t).encode() + body, key))},
    # https://linear.app/developers/webhooks#securing-webhooks (the time is in the body)
    "linear": lambda key, t, body: {"Linear-Signature": _hex(key, body)},
    # https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features
    # (the secret is the P-256 private key; SendGrid's settings show the public one)
    "sendgrid": _sendgrid,
    # https://docs.gitlab.com/user/project/integrations/webhooks/ (X-Gitlab-Token)
    "gitlab": lambda key, t, body: {"X-Gitlab-Token": key},
    # https://pipedrive.readme.io/docs/guide-for-webhooks (HTTP Auth: username, password)
    "pipedrive": lambda key, t, body: {"Authorization": "Basic " + b64(key.encode())},
}


def adyen_signed(item, key):
    """A NotificationRequestItem carrying its signature, as Adyen's library makes it."""
    signature = generate_notification_sig(item, key).decode()
    return {**item, "additionalData": {**item.get("additionalData", {}),
                                       "hmacSignature": signature}}


def sign(provider, body=BODY, secret=SECRET, stamp=None):
    """The headers `provider` sends with `body`, signed with `secret` at Unix time `stamp`
    (now when None)."""
    return SIGNERS[provider](secret, now() if stamp is None else stamp, body)
