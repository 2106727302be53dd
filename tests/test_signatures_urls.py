"""Schemes that sign the URL with the body: Twilio, Square, Trello, HubSpot."""

import base64
import hashlib
import hmac
from urllib.parse import urlencode

import pytest
from hubspot.utils.signature import Signature
from square.utils.webhooks_helper import verify_signature as square_verifies
from twilio.request_validator import RequestValidator

from segfn.errors import ValidationError
from segfn.signatures import verify_signature
from tests.signing import BODY, SECRET, STALE, URL, b64, mac, now, refused, request

FORM = {"CallSid": "CA1234567890ABCDE", "Caller": "+14158675310", "Digits": "1234",
        "From": "+14158675310", "To": "+18005551212"}


def test_twilio_documented_vector():
    # https://www.twilio.com/docs/usage/security#validating-requests, as in Twilio's
    # snippets (TwilioDevEd/api-snippets security/signature_validation): token "12345".
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    headers = {"X-Twilio-Signature": "GvWf1cFY/Q7PnoempGyD5oXAezc="}
    body = urlencode(FORM).encode()
    verify_signature(request(headers, body, url), "twilio", "12345")
    refused("twilio", headers, "twilio: X-Twilio-Signature does not match the URL "
            "'https://mycompany.com/myapp.php\\?foo=1&bar=2' and the body",
            body=body.replace(b"1234", b"1235"), secret="12345", url=url)


def test_twilio_library_both_ways_form():
    validator = RequestValidator(SECRET)
    fields = {**FORM, "Body": "café & more", "Empty": ""}
    body = urlencode(fields).encode()
    signature = validator.compute_signature(URL, fields)
    verify_signature(request({"X-Twilio-Signature": signature}, body), "twilio", SECRET)
    mine = b64(mac((URL + "".join(k + fields[k] for k in sorted(fields))).encode(),
                   algorithm="sha1"))
    assert validator.validate(URL, fields, mine)
    wrong = RequestValidator("other").compute_signature(URL, fields)
    refused("twilio", {"X-Twilio-Signature": wrong}, "does not match the URL", body=body)
    refused("twilio", {"X-Twilio-Signature": signature}, "does not match the URL",
            body=body + b"&Extra=1")
    refused("twilio", {}, "twilio: no X-Twilio-Signature header", body=body)


def test_twilio_library_both_ways_json():
    url = f"https://hooks.example.com/in?bodySHA256={hashlib.sha256(BODY).hexdigest()}"
    validator = RequestValidator(SECRET)
    headers = {"X-Twilio-Signature": validator.compute_signature(url, {})}
    verify_signature(request(headers, url=url), "twilio", SECRET)
    assert validator.validate(url, BODY.decode(), headers["X-Twilio-Signature"])
    refused("twilio", headers, "twilio: the body's SHA-256 is not the URL's bodySHA256",
            body=BODY + b" ", url=url)


def test_twilio_port_either_way_and_url_option():
    body = urlencode(FORM).encode()
    signature = RequestValidator(SECRET).compute_signature("https://hooks.example.com:443/in",
                                                           FORM)
    headers = {"X-Twilio-Signature": signature}
    verify_signature(request(headers, body, "https://hooks.example.com/in"), "twilio", SECRET)
    # Behind a proxy the request arrives at another address: url= names the public one.
    behind = request(headers, body, "http://10.0.0.5:8080/in")
    refused("twilio", headers, "does not match the URL 'http://10.0.0.5:8080/in'", body=body,
            url="http://10.0.0.5:8080/in")
    verify_signature(behind, "twilio", SECRET, url="https://hooks.example.com/in")
    for url in ("", None, b"https://hooks.example.com/in"):
        with pytest.raises(ValidationError, match="twilio: url must be the URL the provider"):
            verify_signature(behind, "twilio", SECRET, url=url)


def test_twilio_shared_key_sha256():
    validator = RequestValidator(SECRET)
    body = urlencode(FORM).encode()
    signature = validator.compute_signature(URL, FORM, "HMAC_SHA256")
    settings = "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256"
    headers = {"X-Twilio-Signature": signature, "X-Twilio-Webhooks-Signature-Settings": settings}
    verify_signature(request(headers, body), "twilio", SECRET)
    refused("twilio", {"X-Twilio-Signature": signature}, "does not match", body=body)
    refused("twilio", {**headers, "X-Twilio-Webhooks-Signature-Settings": "algorithm=MD5"},
            "twilio: X-Twilio-Webhooks-Signature-Settings names an unknown algorithm 'MD5'",
            body=body)


def test_square_library_both_ways():
    # Square's SDK (squareup) verifies; it has no signer, so ours is checked by it.
    signature = b64(mac(URL.encode() + BODY))
    assert square_verifies(request_body=BODY.decode(), signature_header=signature,
                           signature_key=SECRET, notification_url=URL)
    headers = {"x-square-hmacsha256-signature": signature}
    verify_signature(request(headers), "square", SECRET)
    other = "https://hooks.example.com/other"
    assert not square_verifies(request_body=BODY.decode(), signature_header=signature,
                               signature_key=SECRET, notification_url=other)
    refused("square", headers, f"square: x-square-hmacsha256-signature does not match the URL "
            f"'{other}' and the body", url=other)
    refused("square", headers, "does not match", secret="other")
    refused("square", {}, "square: no x-square-hmacsha256-signature header")


def test_square_published_vector():
    # Square's own SDK tests (square/square-python-sdk, tests/integration/
    # test_webhooks_helper.py).
    body = (b'{"merchant_id":"MLEFBHHSJGVHD","type":"webhooks.test_notification","event_id":'
            b'"ac3ac95b-f97d-458c-a6e6-18981597e05f","created_at":"2022-07-13T20:30:59.037339943Z",'
            b'"data":{"type":"webhooks","id":"bc368e64-01aa-407e-b46e-3231809b1129"}}')
    url = "https://webhook.site/679a4f3a-dcfa-49ee-bac5-9d0edad886b9"
    headers = {"x-square-hmacsha256-signature": "GF4YkrJgGBDZ9NIYbNXBnMzqb2HoL4RW/S6vkZ9/2N4="}
    verify_signature(request(headers, body, url), "square", "Ibxx_5AKakO-3qeNVR61Dw")
    refused("square", headers, "does not match", body=body, url=url,
            secret="MCmhFRxGX82xMwg5FsaoQA")


def test_trello_documented_recipe():
    # https://developer.atlassian.com/cloud/trello/guides/rest-api/webhooks/#webhook-signatures
    # "a base64 digest of an HMAC-SHA1 hash ... of the full request body and the callbackURL";
    # "the payloads that we sign are treated as binary strings, not utf-8 ... the en-dash
    # character (U+2013 or 8211 in decimal) ... will show up as a buffer of [19]".
    ascii_body = b'{"action": {"type": "updateCard"}}'
    digest = hmac.new(SECRET.encode(), ascii_body + URL.encode(), hashlib.sha1).digest()
    headers = {"X-Trello-Webhook": base64.b64encode(digest).decode()}
    verify_signature(request(headers, ascii_body), "trello", SECRET)
    refused("trello", headers, "trello: X-Trello-Webhook does not match the body and the URL",
            body=ascii_body, url=URL + "&x=1")
    refused("trello", headers, "does not match", body=ascii_body + b" ")
    refused("trello", {}, "trello: no X-Trello-Webhook header")
    dash = '{"name": "a \u2013 b \u00e9"}'.encode()
    binary = dash.decode().replace("\u2013", chr(19)).encode("latin-1") + URL.encode()
    headers = {"X-Trello-Webhook": base64.b64encode(
        hmac.new(SECRET.encode(), binary, hashlib.sha1).digest()).decode()}
    verify_signature(request(headers, dash), "trello", SECRET)
    utf8 = hmac.new(SECRET.encode(), dash + URL.encode(), hashlib.sha1).digest()
    refused("trello", {"X-Trello-Webhook": base64.b64encode(utf8).decode()}, "does not match",
            body=dash)


def _hubspot(url, stamp, secret=SECRET):
    return {"X-HubSpot-Request-Timestamp": str(stamp),
            "X-HubSpot-Signature-v3": Signature.get_signature(
                secret, BODY.decode(), "v3", url, "POST", str(stamp))}


def test_hubspot_library_both_ways():
    stamp = now() * 1000
    headers = _hubspot(URL, stamp)
    verify_signature(request(headers), "hubspot", SECRET)
    assert Signature.is_valid(headers["X-HubSpot-Signature-v3"], SECRET, BODY.decode(), URL,
                              "POST", "v3", str(stamp))
    refused("hubspot", _hubspot(URL, stamp, "other"), "hubspot: X-HubSpot-Signature-v3 does "
            "not match the URL")
    refused("hubspot", {**headers, "X-HubSpot-Request-Timestamp": str(stamp + 1)},
            "does not match")
    old = (now() - STALE) * 1000
    refused("hubspot", _hubspot(URL, old), "hubspot: signature is \\d+ s old, tolerance is 300 s")
    verify_signature(request(_hubspot(URL, old)), "hubspot", SECRET, tolerance=STALE + 60)
    refused("hubspot", {"X-HubSpot-Request-Timestamp": str(stamp)},
            "hubspot: no X-HubSpot-Signature-v3 header")


def test_hubspot_published_vector():
    # HubSpot's own SDK tests (HubSpot/hubspot-api-python, tests/spec/utils/test_signature.py)
    headers = {"X-HubSpot-Request-Timestamp": "15000000",
               "X-HubSpot-Signature-v3": "HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQw="}
    secret = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
    body, url = b"{'example_field':'example_value'}", "https://www.example.com/webhook_uri"
    verify_signature(request(headers, body, url), "hubspot", secret, now=15000)
    refused("hubspot", headers, "signature is \\d+ s old", body=body, url=url, secret=secret)


def test_hubspot_signs_the_uri_with_listed_escapes_decoded():
    # https://developers.hubspot.com/docs/apps/legacy-apps/authentication/validating-requests
    # ("decode any URL-encoded characters listed in the following table")
    sent = "https://hooks.example.com/in?redirect=https%3A%2F%2Fx.com%2Fa%40b&q=a%20b"
    signed = "https://hooks.example.com/in?redirect=https://x.com/a@b&q=a%20b"
    stamp = now() * 1000
    verify_signature(request(_hubspot(signed, stamp), url=sent), "hubspot", SECRET)
    refused("hubspot", _hubspot(sent, stamp), "does not match", url=sent)
