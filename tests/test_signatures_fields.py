"""Signatures in the body (Adyen, Mailgun) and secrets sent as they are (GitLab, Pipedrive)."""

import json
from urllib.parse import urlencode

from Adyen.util import generate_notification_sig, generate_payload_sig, is_valid_hmac_notification

from segfn.signatures import verify_signature
from tests.signing import BODY, SECRET, STALE, adyen_signed, mac, now, refused, request, sign

ADYEN_KEY = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"
ITEM = {"pspReference": "7914073381342284", "merchantAccountCode": "TestMerchant",
        "merchantReference": "order-1", "amount": {"value": 1130, "currency": "EUR"},
        "eventCode": "AUTHORISATION", "success": "true", "eventDate": "2026-01-01T01:00:00+01:00"}


def _adyen_item(key=ADYEN_KEY, **changes):
    return adyen_signed({**ITEM, **changes}, key)


def _adyen_body(*items):
    return json.dumps({"live": "false", "notificationItems": [
        {"NotificationRequestItem": item} for item in items]}).encode()


def test_adyen_library_both_ways():
    # Signed by Adyen's library (Adyen.util); what ours accepts, theirs accepts too.
    body = _adyen_body(_adyen_item(), _adyen_item(pspReference="2", originalReference="1"))
    verify_signature(request({}, body), "adyen", ADYEN_KEY)
    assert is_valid_hmac_notification(json.loads(body), ADYEN_KEY)
    wrong = _adyen_body(_adyen_item(), _adyen_item(key="00" * 32))
    refused("adyen", {}, "adyen: notificationItems\\[1\\].NotificationRequestItem."
            "additionalData.hmacSignature does not match the notification", body=wrong,
            secret=ADYEN_KEY)
    tampered = _adyen_item()
    tampered["amount"] = {"value": 1, "currency": "EUR"}
    refused("adyen", {}, "does not match the notification", body=_adyen_body(tampered),
            secret=ADYEN_KEY)
    assert not is_valid_hmac_notification(json.loads(_adyen_body(tampered)), ADYEN_KEY)


def test_adyen_published_vector():
    # Adyen's own library tests (Adyen/adyen-python-api-library, test/UtilTest.py)
    item = {**ITEM, "merchantReference": "TestPayment-1407325143704",
            "additionalData": {"hmacSignature": "coqCmt/IZ4E3CzPvMY8zTjQVL5hYJUiBRg8UU+iCWo0="}}
    verify_signature(request({}, _adyen_body(item)), "adyen", ADYEN_KEY)
    refused("adyen", {}, "does not match the notification", body=_adyen_body(
        {**item, "success": "false"}), secret=ADYEN_KEY)


def test_adyen_absent_fields_and_missing_signature():
    # Adyen notifications may lack merchantReference: it signs as "".
    item = _adyen_item()
    del item["merchantReference"]
    item["additionalData"]["hmacSignature"] = generate_notification_sig(
        {k: v for k, v in item.items() if k != "additionalData"}, ADYEN_KEY).decode()
    verify_signature(request({}, _adyen_body(item)), "adyen", ADYEN_KEY)
    refused("adyen", {}, "adyen: notificationItems\\[0\\].NotificationRequestItem has no "
            "additionalData.hmacSignature", body=_adyen_body(ITEM), secret=ADYEN_KEY)
    refused("adyen", {}, "adyen: the body has no notificationItems", body=b"{}",
            secret=ADYEN_KEY)
    refused("adyen", {}, "adyen: request body is not JSON", body=b"{", secret=ADYEN_KEY)
    refused("adyen", {}, "adyen: the HMAC key is not hexadecimal", body=_adyen_body(item))


def test_adyen_header_signature_of_the_body():
    # Banking and Management webhooks: the HmacSignature header, over the whole body.
    headers = {"HmacSignature": generate_payload_sig(BODY, ADYEN_KEY).decode()}
    verify_signature(request(headers), "adyen", ADYEN_KEY)
    refused("adyen", headers, "adyen: HmacSignature does not match the body", body=BODY + b" ",
            secret=ADYEN_KEY)


def _mailgun(stamp, key=SECRET, token="e0b5477167110d68991efc6b9f89f0a11066af27834600e123"):
    signature = mac(f"{stamp}{token}".encode(), key).hex()
    return {"timestamp": str(stamp), "token": token, "signature": signature}


def test_mailgun_documented_recipe():
    # https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/securing-webhooks
    # hex HMAC-SHA256 of timestamp + token, keyed with the webhook signing key.
    def body(signature):
        return json.dumps({"signature": signature, "event-data": {"event": "delivered"}}).encode()

    verify_signature(request({}, body(_mailgun(now()))), "mailgun", SECRET)
    # Legacy webhooks and routes post the fields as a form.
    verify_signature(request({}, urlencode(_mailgun(now())).encode()), "mailgun", SECRET)
    refused("mailgun", {}, "mailgun: signature.signature does not match its timestamp and token",
            body=body(_mailgun(now(), key="other")))
    refused("mailgun", {}, "mailgun: signature is \\d+ s old, tolerance is 300 s",
            body=body(_mailgun(now() - STALE)))
    missing = {**_mailgun(now()), "token": ""}
    refused("mailgun", {}, "mailgun: the body's signature has no token", body=body(missing))
    refused("mailgun", {}, "mailgun: the body has no signature object", body=b'{"x": 1}')


def test_gitlab_token():
    # https://docs.gitlab.com/user/project/integrations/webhooks/ (X-Gitlab-Token)
    verify_signature(request(sign("gitlab")), "gitlab", SECRET)
    refused("gitlab", {"X-Gitlab-Token": "other"}, "gitlab: X-Gitlab-Token is not the secret")
    refused("gitlab", {}, "gitlab: no X-Gitlab-Token header")


def test_pipedrive_basic_auth():
    # https://pipedrive.readme.io/docs/guide-for-webhooks (HTTP Auth: username, password)
    verify_signature(request(sign("pipedrive", secret="hooks:" + SECRET)), "pipedrive",
                     "hooks:" + SECRET)
    refused("pipedrive", sign("pipedrive", secret="hooks:other"), "pipedrive: Authorization "
            "Basic credentials are not user:password", secret="hooks:" + SECRET)
    refused("pipedrive", {"Authorization": "Bearer abc"}, "pipedrive: Authorization is not Basic")
    refused("pipedrive", {"Authorization": "Basic !!"}, "credentials are not base64")
    refused("pipedrive", {}, "pipedrive: no Authorization header")
