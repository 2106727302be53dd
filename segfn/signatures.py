"""Checking the signatures providers put on their webhooks, over the exact body bytes.

Each check raises ``ValidationError`` naming what is wrong; it returns None when the
signature is good.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from segfn.errors import ValidationError
from segfn.request import Request

STRIPE_TOLERANCE_SECONDS = 300


def _digest(secret: str, data: bytes, algorithm: str) -> bytes:
    return hmac.new(secret.encode("utf-8"), data, getattr(hashlib, algorithm)).digest()


def verify_hmac(raw_body: bytes, secret: str, signature: str | None, *,
                algorithm: str = "sha256", encoding: str = "hex", prefix: str = "",
                header: str = "signature") -> None:
    """Check ``signature`` (``prefix`` + hex or base64 HMAC of ``raw_body``)."""
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
