import base64
import hashlib
import hmac

import pytest

from segfn.errors import ValidationError
from segfn.request import Request
from segfn.signatures import (
    verify_github,
    verify_hmac,
    verify_shopify,
    verify_stripe,
    verify_typeform,
)

BODY = b'{"id": 1, "name": "caf\xc3\xa9"}'
SECRET = "s3cret"


def request(headers):
    return Request(BODY, headers, "http://localhost/")


def hex_digest(data=BODY, secret=SECRET):
    return hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


def b64_digest(data=BODY, secret=SECRET):
    return base64.b64encode(hmac.new(secret.encode(), data, hashlib.sha256).digest()).decode()


def test_verify_hmac():
    verify_hmac(BODY, SECRET, hex_digest())
    verify_hmac(BODY, SECRET, "sha1=" + hmac.new(SECRET.encode(), BODY, "sha1").hexdigest(),
                algorithm="sha1", prefix="sha1=")
    with pytest.raises(ValidationError, match="missing X-Sig"):
        verify_hmac(BODY, SECRET, None, header="X-Sig")
    with pytest.raises(ValidationError, match="does not start with 'sha256='"):
        verify_hmac(BODY, SECRET, hex_digest(), prefix="sha256=")
    with pytest.raises(ValidationError, match="does not match the body"):
        verify_hmac(BODY + b" ", SECRET, hex_digest())


@pytest.mark.parametrize(("verify", "header", "good", "bad"), [
    (verify_github, "X-Hub-Signature-256", "sha256=" + hex_digest(),
     "sha256=" + hex_digest(secret="other")),
    (verify_shopify, "X-Shopify-Hmac-Sha256", b64_digest(), b64_digest(secret="other")),
    (verify_typeform, "Typeform-Signature", "sha256=" + b64_digest(),
     "sha256=" + b64_digest(secret="other")),
])
def test_provider_signatures(verify, header, good, bad):
    verify(request({header: good}), SECRET)
    with pytest.raises(ValidationError, match=f"{header} does not match"):
        verify(request({header: bad}), SECRET)
    with pytest.raises(ValidationError, match=f"missing {header}"):
        verify(request({}), SECRET)


def stripe_header(stamp, secret=SECRET):
    return f"t={stamp},v1={hex_digest(f'{stamp}.'.encode() + BODY, secret)}"


def test_stripe_good_and_several_v1():
    verify_stripe(request({"Stripe-Signature": stripe_header(1000)}), SECRET, now=1000)
    rotated = stripe_header(1000, "old") + ",v1=" + stripe_header(1000).split("v1=")[1]
    verify_stripe(request({"Stripe-Signature": rotated}), SECRET, now=1000)


def test_stripe_tolerance_boundaries():
    header = {"Stripe-Signature": stripe_header(1000)}
    verify_stripe(request(header), SECRET, now=1300)
    verify_stripe(request(header), SECRET, now=700)
    with pytest.raises(ValidationError, match="tolerance"):
        verify_stripe(request(header), SECRET, now=1301)
    with pytest.raises(ValidationError, match="tolerance"):
        verify_stripe(request(header), SECRET, now=699)
    verify_stripe(request(header), SECRET, now=1400, tolerance=400)


@pytest.mark.parametrize(("header", "message"), [
    (None, "missing Stripe-Signature"),
    ("v1=abc", "no timestamp"),
    ("t=abc,v1=abc", "no timestamp"),
    ("t=1000", "no v1 signature"),
    ("t=1000,v1=" + "0" * 64, "does not match"),
])
def test_stripe_bad_headers(header, message):
    headers = {"Stripe-Signature": header} if header else {}
    with pytest.raises(ValidationError, match=message):
        verify_stripe(request(headers), SECRET, now=1000)


@pytest.mark.parametrize("algorithm", ["md5", "sha1", "sha224", "sha256", "sha384", "sha512"])
def test_verify_hmac_algorithms(algorithm):
    good = hmac.new(SECRET.encode(), BODY, algorithm).hexdigest()
    verify_hmac(BODY, SECRET, good, algorithm=algorithm)


# hole: the algorithm was looked up with getattr(hashlib, name), so a handler could name any
# attribute of the module ("__builtins__": the real builtins dict).
@pytest.mark.parametrize("algorithm", ["__builtins__", "new", "sha3_256", "SHA256", "", None])
def test_verify_hmac_names_only_listed_algorithms(algorithm):
    with pytest.raises(ValueError, match="verify_hmac: algorithm must be one of md5, sha1, "
                                         "sha224, sha256, sha384, sha512, not "):
        verify_hmac(BODY, SECRET, hex_digest(), algorithm=algorithm)


@pytest.mark.parametrize("encoding", ["HEX", "base32", "__class__", None])
def test_verify_hmac_names_only_listed_encodings(encoding):
    # Before: anything but "hex" silently meant base64.
    with pytest.raises(ValueError, match="encoding must be one of hex, base64, not "):
        verify_hmac(BODY, SECRET, b64_digest(), encoding=encoding)
    verify_hmac(BODY, SECRET, b64_digest(), encoding="base64")
