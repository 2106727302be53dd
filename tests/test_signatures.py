import time

import pytest

import segfn
from segfn.errors import ValidationError
from segfn.signatures import OPTIONS, PROVIDERS, verify_hmac, verify_signature
from tests.paths import ROOT
from tests.signing import BODY, SECRET, b64, mac, request


def test_unknown_provider_lists_the_known_ones():
    with pytest.raises(ValidationError) as caught:
        verify_signature(request({}), "foo", SECRET)
    message = str(caught.value)
    assert message.startswith("unknown provider 'foo'; known: ")
    assert all(name in message for name in PROVIDERS)


def test_names_are_lower_case_and_hyphenated():
    assert all(name == name.lower() and "_" not in name for name in PROVIDERS)


# hole: an empty key is one anybody can compute an HMAC with.
@pytest.mark.parametrize("secret", ["", None, b"bytes", 1])
def test_secret_must_be_a_non_empty_string(secret):
    good = {"X-Hub-Signature-256": "sha256=" + mac(BODY, "").hex()}
    with pytest.raises(ValidationError, match="github: the secret must be a non-empty string"):
        verify_signature(request(good), "github", secret)


def test_unknown_option_names_the_ones_there_are():
    with pytest.raises(ValidationError, match="stripe: unknown option 'tolerence'; it takes "
                                              "tolerance, now"):
        verify_signature(request({}), "stripe", SECRET, tolerence=10)
    with pytest.raises(ValidationError, match="github: unknown option 'url'; it takes no"):
        verify_signature(request({}), "github", SECRET, url="https://x/")


# hole: a NaN tolerance passed `value < 0`, and no age is ever greater than NaN.
@pytest.mark.parametrize("tolerance", [-1, "300", True, None, float("nan"), float("inf")])
def test_tolerance_is_a_number_of_seconds(tolerance):
    with pytest.raises(ValidationError, match="stripe: tolerance must be a number"):
        verify_signature(request({}), "stripe", SECRET, tolerance=tolerance)


@pytest.mark.parametrize("clock", [float("nan"), float("inf"), -5, "now"])
def test_now_is_a_unix_time(clock):
    with pytest.raises(ValidationError, match="stripe: now must be a number"):
        verify_signature(request({}), "stripe", SECRET, now=clock)


def test_request_must_be_a_request():
    with pytest.raises(ValidationError, match="github: verify_signature takes the request"):
        verify_signature(BODY, "github", SECRET)


def test_one_way_to_check_a_provider():
    assert len(PROVIDERS) >= 30
    assert not [name for name in dir(segfn) if name.startswith("verify_")
                and name not in ("verify_signature", "verify_hmac")]


def test_readme_lists_every_provider_with_its_options():
    readme = (ROOT / "README.md").read_text()
    for provider, options in OPTIONS.items():
        row = next((line for line in readme.splitlines()
                    if line.startswith(f"| `{provider}` |")), None)
        assert row is not None, f"README lists no {provider}"
        assert all(f"`{option}`" in row for option in options), row
        if "tolerance" in options:
            assert f"`tolerance` ({options['tolerance'].default:g})" in row, row


def test_verify_hmac():
    verify_hmac(BODY, SECRET, mac(BODY).hex())
    verify_hmac(BODY, SECRET, "sha1=" + mac(BODY, algorithm="sha1").hex(),
                algorithm="sha1", prefix="sha1=")
    with pytest.raises(ValidationError, match="missing X-Sig"):
        verify_hmac(BODY, SECRET, None, header="X-Sig")
    with pytest.raises(ValidationError, match="does not start with 'sha256='"):
        verify_hmac(BODY, SECRET, mac(BODY).hex(), prefix="sha256=")
    with pytest.raises(ValidationError, match="does not match the body"):
        verify_hmac(BODY + b" ", SECRET, mac(BODY).hex())


@pytest.mark.parametrize("algorithm", ["md5", "sha1", "sha224", "sha256", "sha384", "sha512"])
def test_verify_hmac_algorithms(algorithm):
    verify_hmac(BODY, SECRET, mac(BODY, algorithm=algorithm).hex(), algorithm=algorithm)


# hole: the algorithm was looked up with getattr(hashlib, name), so a handler could name any
# attribute of the module ("__builtins__": the real builtins dict).
@pytest.mark.parametrize("algorithm", ["__builtins__", "new", "sha3_256", "SHA256", "", None])
def test_verify_hmac_names_only_listed_algorithms(algorithm):
    with pytest.raises(ValueError, match="verify_hmac: algorithm must be one of md5, sha1, "
                                         "sha224, sha256, sha384, sha512, not "):
        verify_hmac(BODY, SECRET, mac(BODY).hex(), algorithm=algorithm)


@pytest.mark.parametrize("encoding", ["HEX", "base32", "__class__", None])
def test_verify_hmac_names_only_listed_encodings(encoding):
    # Before: anything but "hex" silently meant base64.
    with pytest.raises(ValueError, match="encoding must be one of hex, base64, not "):
        verify_hmac(BODY, SECRET, b64(mac(BODY)), encoding=encoding)
    verify_hmac(BODY, SECRET, b64(mac(BODY)), encoding="base64")


HANDLER = """
def on_request(request, settings):
    options = {"url": settings.get("url")} if settings.get("url") else {}
    verify_signature(request, settings["provider"], settings["secret"], **options)
    Segment.track(user_id="u1", event="Verified")
"""


def test_handlers_call_it_without_import_in_the_worker(load_handler):
    # No import: the name is there, and its public-key schemes run in the confined worker.
    import nacl.signing

    signer = nacl.signing.SigningKey.generate()
    stamp = str(int(time.time()))
    discord = {"X-Signature-Timestamp": stamp,
               "X-Signature-Ed25519": signer.sign(stamp.encode() + BODY).signature.hex()}
    handler = load_handler(source=HANDLER, settings={
        "provider": "discord", "secret": signer.verify_key.encode().hex()})
    good = handler.post(BODY, headers=discord)
    assert good.ok, good.error
    assert [m["event"] for m in good.tracks] == ["Verified"]
    wrong = handler.post(BODY + b" ", headers=discord)
    assert wrong.error.type == "MessageRejected"
    assert "discord: X-Signature-Ed25519 does not match the body" in wrong.error.message
    assert not wrong.messages

    public = "https://hooks.example.com/twilio"
    signature = b64(mac(f"{public}From+1".encode(), algorithm="sha1"))
    twilio = load_handler(source=HANDLER, settings={"provider": "twilio", "secret": SECRET,
                                                    "url": public})
    assert twilio.post(b"From=%2B1", headers={"X-Twilio-Signature": signature},
                       content_type="application/x-www-form-urlencoded").ok
    unknown = load_handler(source=HANDLER, settings={"provider": "nope", "secret": SECRET})
    refused = unknown.post(BODY)
    assert "unknown provider 'nope'; known: adyen, asana" in refused.error.message
