"""Schemes that sign the body alone: each with a good, a wrong and a missing signature."""

import pytest

from segfn.signatures import verify_signature
from tests.signing import BODY, SECRET, b64, mac, refused, request


def test_github_documented_vector():
    # https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
    # ("Testing the webhook payload validation")
    signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    verify_signature(request({"X-Hub-Signature-256": signature}, b"Hello, World!"), "github",
                     "It's a Secret to Everybody")
    refused("github", {"X-Hub-Signature-256": signature}, "does not match the body",
            body=b"Hello, World?", secret="It's a Secret to Everybody")


# Where a provider publishes no vector, its documented recipe is written out here.
SCHEMES = [
    # https://shopify.dev/docs/apps/build/webhooks/subscribe/https#step-5-verify-the-webhook
    ("shopify", "X-Shopify-Hmac-Sha256", lambda key: b64(mac(BODY, key))),
    # https://www.typeform.com/developers/webhooks/secure-your-webhooks/
    ("typeform", "Typeform-Signature", lambda key: "sha256=" + b64(mac(BODY, key))),
    ("github", "X-Hub-Signature-256", lambda key: "sha256=" + mac(BODY, key).hex()),
    # https://woocommerce.github.io/woocommerce-rest-api-docs/#webhooks
    ("woocommerce", "X-WC-Webhook-Signature", lambda key: b64(mac(BODY, key))),
    # https://developers.intercom.com/docs/references/webhooks/webhook-models#signed-notifications
    ("intercom", "X-Hub-Signature", lambda key: "sha1=" + mac(BODY, key, "sha1").hex()),
    # https://vercel.com/docs/webhooks/webhooks-api#securing-webhooks
    ("vercel", "x-vercel-signature", lambda key: mac(BODY, key, "sha1").hex()),
    # https://developers.asana.com/docs/webhooks-guide#security
    ("asana", "X-Hook-Signature", lambda key: mac(BODY, key).hex()),
    # https://docs.sentry.io/organization/integrations/integration-platform/webhooks/
    ("sentry", "Sentry-Hook-Signature", lambda key: mac(BODY, key).hex()),
]


@pytest.mark.parametrize(("provider", "name", "sign"), SCHEMES)
def test_good_wrong_missing(provider, name, sign):
    verify_signature(request({name: sign(SECRET)}), provider, SECRET)
    refused(provider, {name: sign("other")}, f"{provider}: {name} does not match the body")
    refused(provider, {name: sign(SECRET)}, "does not match the body", body=BODY + b" ")
    refused(provider, {}, f"{provider}: no {name} header")


def test_docusign_one_signature_per_active_key():
    # https://developers.docusign.com/platform/webhooks/connect/hmac/
    # Connect sends X-DocuSign-Signature-1, -2, ... one per active key; one must match.
    good, other = b64(mac(BODY)), b64(mac(BODY, "other"))
    verify_signature(request({"X-DocuSign-Signature-1": good}), "docusign", SECRET)
    verify_signature(request({"X-DocuSign-Signature-1": other, "X-DocuSign-Signature-2": good}),
                     "docusign", SECRET)
    refused("docusign", {"X-DocuSign-Signature-1": other}, "docusign: no X-DocuSign-Signature-N "
            "header matches the body")
    refused("docusign", {"X-DocuSign-Signature-1": good}, "matches the body", body=BODY + b" ")
    refused("docusign", {}, "docusign: no X-DocuSign-Signature-1 header")


def test_prefix_is_required():
    signature = mac(BODY).hex()
    refused("github", {"X-Hub-Signature-256": signature}, "github: X-Hub-Signature-256 does "
            "not start with 'sha256='")
