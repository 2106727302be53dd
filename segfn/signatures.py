"""Checking the signatures providers put on their webhooks, over the exact body bytes.

Each check raises ``ValidationError`` naming what is wrong; it returns None when the
signature is good.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterable

from segfn.errors import ValidationError
from segfn.request import Request

STRIPE_TOLERANCE_SECONDS = 300

# The digests a handler may name, looked up in this table and never by name on a module:
# getattr(hashlib, name) would give a handler any attribute it names ("__builtins__").
ALGORITHMS = {"md5": hashlib.md5, "sha1": hashlib.sha1, "sha224": hashlib.sha224,
              "sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}
ENCODINGS = ("hex", "base64")


def _one_of(parameter: str, value: object, allowed: Iterable[str]) -> str:
    if type(value) is not str or value not in allowed:
        raise ValueError(f"verify_hmac: {parameter} must be one of {', '.join(allowed)}, "
                         f"not {value!r}")
    return value


def _digest(secret: str, data: bytes, algorithm: str) -> bytes:
    return hmac.new(secret.encode("utf-8"), data, ALGORITHMS[algorithm]).digest()


def verify_hmac(raw_body: bytes, secret: str, signature: str | None, *,
                algorithm: str = "sha256", encoding: str = "hex", prefix: str = "",
                header: str = "signature") -> None:
    """Check ``signature`` (``prefix`` + hex or base64 HMAC of ``raw_body``).

    ``algorithm`` is one of ``ALGORITHMS`` and ``encoding`` one of ``ENCODINGS``; another
    value is a ``ValueError`` naming the ones there are.
    """
    _one_of("algorithm", algorithm, ALGORITHMS)
    _one_of("encoding", encoding, ENCODINGS)
    if not signature:
        raise ValidationError(f"missing {header}")
    if prefix and not signature.startswith(prefix):
        raise ValidationError(f"{header} does not start with {prefix!r}")
    digest = _digest(secret, raw_body, algorithm)
    expected = digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()
    if not hmac.compare_digest(signature[len(prefix):].strip(), expected):
        raise ValidationError(f"{header} does not match the body")


def verify_github(request: Request, secret: str) -> None:
    """GitHub: ``X-Hub-Signature-256: sha256=<hex>``."""
    verify_hmac(request.raw_body, secret, request.headers.get("X-Hub-Signature-256"),
                prefix="sha256=", header="X-Hub-Signature-256")


def verify_shopify(request: Request, secret: str) -> None:
    """Shopify: ``X-Shopify-Hmac-Sha256: <base64>``."""
    verify_hmac(request.raw_body, secret, request.headers.get("X-Shopify-Hmac-Sha256"),
                encoding="base64", header="X-Shopify-Hmac-Sha256")


def verify_typeform(request: Request, secret: str) -> None:
    """Typeform: ``Typeform-Signature: sha256=<base64>``."""
    verify_hmac(request.raw_body, secret, request.headers.get("Typeform-Signature"),
                encoding="base64", prefix="sha256=", header="Typeform-Signature")


def verify_stripe(request: Request, secret: str, *,
                  tolerance: float = STRIPE_TOLERANCE_SECONDS, now: float | None = None) -> None:
    """Stripe: ``Stripe-Signature: t=<unix>,v1=<hex>[,v1=...]`` over ``"{t}.{body}"``,
    refused when ``t`` is more than ``tolerance`` seconds from ``now``."""
    header = request.headers.get("Stripe-Signature")
    if not header:
        raise ValidationError("missing Stripe-Signature")
    parts = [p.split("=", 1) for p in header.split(",") if "=" in p]
    stamps = [v for k, v in parts if k.strip() == "t"]
    signatures = [v.strip() for k, v in parts if k.strip() == "v1"]
    if not stamps or not stamps[0].strip().isdigit() or not signatures:
        raise ValidationError("Stripe-Signature has no timestamp or no v1 signature")
    stamp = int(stamps[0])
    current = time.time() if now is None else now
    if abs(current - stamp) > tolerance:
        raise ValidationError(f"Stripe-Signature timestamp is outside the {tolerance:g} s "
                              "tolerance")
    signed = f"{stamp}.".encode() + request.raw_body
    expected = _digest(secret, signed, "sha256").hex()
    if not any(hmac.compare_digest(s, expected) for s in signatures):
        raise ValidationError("Stripe-Signature does not match the body")
