"""Schemes signed with the provider's private key: the secret is its public key.

Both sign a timestamp with the body, so each takes ``tolerance`` and ``now`` as the
timestamped schemes do.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_der_public_key

from segfn.errors import ValidationError
from segfn.request import Request
from segfn.signatures.checks import fresh, header, seconds, unbase64, unhex


def discord(request: Request, secret: str, *, tolerance: float = 300,
            now: float | None = None) -> None:
    """Interactions: ``X-Signature-Ed25519`` (hex) over ``X-Signature-Timestamp`` + body,
    checked with the application's public key (hex, as the Developer Portal shows it)."""
    stamp = header(request, "X-Signature-Timestamp")
    signature = unhex(header(request, "X-Signature-Ed25519"), "X-Signature-Ed25519 header")
    try:
        key = Ed25519PublicKey.from_public_bytes(unhex(secret, "public key"))
    except ValueError:
        raise ValidationError("the public key is not 32 bytes of Ed25519 key") from None
    fresh(seconds(stamp, "X-Signature-Timestamp"), tolerance, now)
    try:
        key.verify(signature, stamp.encode() + request.raw_body)
    except InvalidSignature:
        raise ValidationError("X-Signature-Ed25519 does not match the body") from None


def _ec_key(secret: str) -> ec.EllipticCurvePublicKey:
    """SendGrid's verification key: base64 DER, as its settings page shows it, or PEM."""
    lines = [line.strip() for line in secret.strip().splitlines()]
    der = unbase64("".join(line for line in lines if not line.startswith("-----")),
                   "the verification key")
    try:
        key = load_der_public_key(der)
    except (ValueError, UnsupportedAlgorithm):
        raise ValidationError("the verification key is not a public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValidationError("the verification key is not an elliptic-curve key")
    return key


def sendgrid(request: Request, secret: str, *, tolerance: float = 300,
             now: float | None = None) -> None:
    """Event Webhook: ``X-Twilio-Email-Event-Webhook-Signature`` (base64 ECDSA, SHA-256)
    over ``X-Twilio-Email-Event-Webhook-Timestamp`` + body."""
    stamp_name = "X-Twilio-Email-Event-Webhook-Timestamp"
    name = "X-Twilio-Email-Event-Webhook-Signature"
    stamp = header(request, stamp_name)
    signature = unbase64(header(request, name), name)
    key = _ec_key(secret)
    fresh(seconds(stamp, stamp_name), tolerance, now)
    try:
        key.verify(signature, stamp.encode() + request.raw_body, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise ValidationError(f"{name} does not match the body") from None


SCHEMES = {"discord": discord, "sendgrid": sendgrid}
