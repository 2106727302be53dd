"""Requests for the signature tests: a body, its headers, the URL it was posted to."""

import base64
import hashlib
import hmac
import time

import pytest

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
