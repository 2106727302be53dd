"""Schemes that sign the URL the provider posted to along with the body (or its fields).

Each takes ``url``: the address as the provider was told it, when the one the request
arrived at differs (a proxy in front, another host name); ``request.url`` when not given.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from urllib.parse import parse_qsl, urlsplit

from segfn.errors import ValidationError
from segfn.request import Request
from segfn.signatures.checks import digest, encoded, expect, fresh, header, seconds


def _address(request: Request, url: str | None) -> str:
    return request.url.href if url is None else url


def _with_and_without_port(address: str) -> list[str]:
    """Twilio signs the URL with or without its default port, depending on the product."""
    parts = urlsplit(address)
    host = parts.netloc.rpartition("@")[2]
    if parts.port is not None:
        return [address, parts._replace(netloc=host.rsplit(":", 1)[0]).geturl()]
    port = 443 if parts.scheme == "https" else 80
    return [address, parts._replace(netloc=f"{host}:{port}").geturl()]


_TWILIO_ALGORITHMS = {"HMAC_SHA1": "sha1", "HMAC_SHA256": "sha256"}


def _twilio_algorithm(request: Request) -> str:
    """``X-Twilio-Webhooks-Signature-Settings: key=..,algorithm=HMAC_SHA256`` marks a
    webhook signed with a shared key; without it the Auth Token signs with HMAC-SHA1."""
    settings = request.headers.get("X-Twilio-Webhooks-Signature-Settings") or ""
    for part in settings.split(","):
        name, _, value = part.partition("=")
        if name.strip() == "algorithm" and value.strip():
            algorithm = value.strip().upper()
            if algorithm not in _TWILIO_ALGORITHMS:
                raise ValidationError(f"X-Twilio-Webhooks-Signature-Settings names an unknown "
                                      f"algorithm {value.strip()[:40]!r}")
            return _TWILIO_ALGORITHMS[algorithm]
    return "sha1"


def _twilio_fields(request: Request) -> str:
    """Each form field's name and value, sorted by name then value (a repeat once)."""
    try:
        pairs = parse_qsl(request.raw_body.decode("utf-8"), keep_blank_values=True,
                          errors="strict")
    except UnicodeDecodeError:
        raise ValidationError("the form body is not UTF-8") from None
    fields: dict[str, set[str]] = {}
    for name, value in pairs:
        fields.setdefault(name, set()).add(value)
    return "".join(name + value for name in sorted(fields) for value in sorted(fields[name]))


def twilio(request: Request, secret: str, *, url: str | None = None) -> None:
    """``X-Twilio-Signature``: base64 HMAC of the URL followed by the form fields; a JSON
    body is signed through the URL instead, whose ``bodySHA256`` is the body's SHA-256."""
    signature = header(request, "X-Twilio-Signature")
    algorithm = _twilio_algorithm(request)
    address = _address(request, url)
    query = dict(parse_qsl(urlsplit(address).query, keep_blank_values=True))
    if "bodySHA256" in query:
        body_hash = hashlib.sha256(request.raw_body).hexdigest()
        if not hmac.compare_digest(body_hash.encode(), query["bodySHA256"].encode()):
            raise ValidationError("the body's SHA-256 is not the URL's bodySHA256")
        fields = ""
    else:
        fields = _twilio_fields(request)
    expected = [encoded(digest(secret, (candidate + fields).encode(), algorithm), "base64")
                for candidate in _with_and_without_port(address)]
    if not any(hmac.compare_digest(signature.encode(), item.encode()) for item in expected):
        raise ValidationError(f"X-Twilio-Signature does not match the URL {address!r} and "
                              f"the body")


def square(request: Request, secret: str, *, url: str | None = None) -> None:
    """``x-square-hmacsha256-signature``: base64 HMAC-SHA256 of the notification URL
    followed by the body, keyed with the subscription's signature key."""
    signature = header(request, "x-square-hmacsha256-signature")
    address = _address(request, url)
    expect("x-square-hmacsha256-signature", [signature],
           encoded(digest(secret, address.encode() + request.raw_body), "base64"),
           f"the URL {address!r} and the body")


def _node_binary(text: str) -> bytes:
    """What Node's crypto signs for a string by default: the low byte of each UTF-16 code
    unit ("en dash, U+2013, becomes 19", as Trello's documentation says)."""
    return text.encode("utf-16-le", "surrogatepass")[0::2]


def trello(request: Request, secret: str, *, url: str | None = None) -> None:
    """``X-Trello-Webhook``: base64 HMAC-SHA1 of the body followed by the callbackURL the
    webhook was created with, taken as Node's binary string, keyed with the app's secret."""
    signature = header(request, "X-Trello-Webhook")
    address = _address(request, url)
    try:
        text = request.raw_body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError("the body is not UTF-8") from None
    expect("X-Trello-Webhook", [signature],
           encoded(digest(secret, _node_binary(text + address), "sha1"), "base64"),
           f"the body and the URL {address!r}")


# HubSpot signs the URI with these characters decoded, every other escape left as sent.
_HUBSPOT_DECODED = re.compile("%(3A|2F|3F|40|21|24|27|28|29|2A|2C|3B)", re.IGNORECASE)


def hubspot(request: Request, secret: str, *, url: str | None = None, tolerance: float = 300,
            now: float | None = None) -> None:
    """``X-HubSpot-Signature-v3``: base64 HMAC-SHA256 of ``POST`` + URI + body +
    ``X-HubSpot-Request-Timestamp`` (ms), keyed with the app's client secret; HubSpot says
    refuse what is over five minutes old."""
    stamp = header(request, "X-HubSpot-Request-Timestamp")
    signature = header(request, "X-HubSpot-Signature-v3")
    fresh(seconds(stamp, "X-HubSpot-Request-Timestamp", scale=1000), tolerance, now)
    address = _address(request, url)
    uri = _HUBSPOT_DECODED.sub(lambda escape: bytes.fromhex(escape[1]).decode(), address)
    signed = f"POST{uri}".encode() + request.raw_body + stamp.encode()
    expect("X-HubSpot-Signature-v3", [signature], encoded(digest(secret, signed), "base64"),
           f"the URL {address!r} and the body")


SCHEMES = {"twilio": twilio, "square": square, "trello": trello, "hubspot": hubspot}
