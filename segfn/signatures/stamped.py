"""Schemes that sign a timestamp with the body, so that an old delivery can be refused.

Each takes ``tolerance`` (seconds, the provider's documented window by default) and
``now`` (the Unix time to judge age against; the clock when not given).
"""

from __future__ import annotations

from segfn.errors import ValidationError
from segfn.request import Request
from segfn.signatures.checks import (
    digest,
    encoded,
    expect,
    fresh,
    header,
    iso_seconds,
    pairs,
    seconds,
    unbase64,
    unhex,
)


def _signed(name: str, value: str, separator: str, stamp_key: str,
            signature_key: str) -> tuple[str, list[str]]:
    """``t=..,v1=..[,v1=..]`` headers: the timestamp and every signature given."""
    found = pairs(value, separator)
    stamps = [item for key, item in found if key == stamp_key]
    signatures = [item for key, item in found if key == signature_key]
    if not stamps:
        raise ValidationError(f"{name} has no {stamp_key}= timestamp")
    if not signatures:
        raise ValidationError(f"{name} has no {signature_key}= signature")
    return stamps[0], signatures


def stripe(request: Request, secret: str, *, tolerance: float = 300,
           now: float | None = None) -> None:
    """``Stripe-Signature: t=<unix>,v1=<hex>[,v1=...]`` over ``{t}.{body}``."""
    stamp, signatures = _signed("Stripe-Signature", header(request, "Stripe-Signature"),
                                ",", "t", "v1")
    fresh(seconds(stamp, "Stripe-Signature t="), tolerance, now)
    expect("Stripe-Signature", signatures,
           digest(secret, f"{stamp}.".encode() + request.raw_body).hex())


def calendly(request: Request, secret: str, *, tolerance: float = 180,
             now: float | None = None) -> None:
    """``Calendly-Webhook-Signature: t=<unix>,v1=<hex>`` over ``{t}.{body}``; Calendly's
    docs suggest three minutes."""
    name = "Calendly-Webhook-Signature"
    stamp, signatures = _signed(name, header(request, name), ",", "t", "v1")
    fresh(seconds(stamp, f"{name} t="), tolerance, now)
    expect(name, signatures, digest(secret, f"{stamp}.".encode() + request.raw_body).hex())


def paddle(request: Request, secret: str, *, tolerance: float = 5,
           now: float | None = None) -> None:
    """Paddle Billing: ``Paddle-Signature: ts=<unix>;h1=<hex>`` over ``{ts}:{body}``;
    Paddle's SDK allows five seconds."""
    stamp, signatures = _signed("Paddle-Signature", header(request, "Paddle-Signature"),
                                ";", "ts", "h1")
    fresh(seconds(stamp, "Paddle-Signature ts="), tolerance, now)
    expect("Paddle-Signature", signatures,
           digest(secret, f"{stamp}:".encode() + request.raw_body).hex())


def recurly(request: Request, secret: str, *, tolerance: float = 300,
            now: float | None = None) -> None:
    """``Recurly-Signature: <unix ms>,<hex>[,<hex>]`` over ``{ms}.{body}``."""
    stamp, *signatures = header(request, "Recurly-Signature").split(",")
    fresh(seconds(stamp, "Recurly-Signature timestamp", scale=1000), tolerance, now)
    expect("Recurly-Signature", signatures,
           digest(secret, f"{stamp.strip()}.".encode() + request.raw_body).hex())


def _v0(request: Request, secret: str, names: tuple[str, str], tolerance: float,
        now: float | None) -> None:
    """Slack and Zoom: ``v0=<hex>`` over ``v0:{timestamp}:{body}``."""
    stamp = header(request, names[0])
    signature = header(request, names[1])
    fresh(seconds(stamp, names[0]), tolerance, now)
    if not signature.startswith("v0="):
        raise ValidationError(f"{names[1]} does not start with 'v0='")
    expect(names[1], [signature[3:]],
           digest(secret, f"v0:{stamp}:".encode() + request.raw_body).hex())


def slack(request: Request, secret: str, *, tolerance: float = 300,
          now: float | None = None) -> None:
    """``X-Slack-Signature``, ``X-Slack-Request-Timestamp``; Slack says five minutes."""
    _v0(request, secret, ("X-Slack-Request-Timestamp", "X-Slack-Signature"), tolerance, now)


def zoom(request: Request, secret: str, *, tolerance: float = 300,
         now: float | None = None) -> None:
    """``x-zm-signature``, ``x-zm-request-timestamp``, keyed with the secret token."""
    _v0(request, secret, ("x-zm-request-timestamp", "x-zm-signature"), tolerance, now)


def standard_webhooks(request: Request, secret: str, *, tolerance: float = 300,
                      now: float | None = None) -> None:
    """The Standard Webhooks spec (Svix, Clerk, ...): ``webhook-id``, ``webhook-timestamp``,
    ``webhook-signature: v1,<base64> [v1,<base64>]`` over ``{id}.{timestamp}.{body}``,
    keyed with the base64 after ``whsec_``. Svix's ``svix-*`` names are read too."""
    svix = request.headers.has("svix-signature") and not request.headers.has("webhook-signature")
    prefix = "svix" if svix else "webhook"
    message_id = header(request, f"{prefix}-id")
    stamp = header(request, f"{prefix}-timestamp")
    given = header(request, f"{prefix}-signature").split()
    fresh(seconds(stamp, f"{prefix}-timestamp"), tolerance, now)
    key = unbase64(secret.removeprefix("whsec_"), "the secret (after whsec_)")
    signed = f"{message_id}.{stamp}.".encode() + request.raw_body
    v1 = [item[3:] for item in given if item.startswith("v1,")]
    if not v1:
        raise ValidationError(f"{prefix}-signature has no v1, signature")
    expect(f"{prefix}-signature", v1, encoded(digest(key, signed), "base64"))


def twitch(request: Request, secret: str, *, tolerance: float = 600,
           now: float | None = None) -> None:
    """EventSub: ``Twitch-Eventsub-Message-Signature: sha256=<hex>`` over message id,
    timestamp (RFC 3339) and body; Twitch says refuse what is over ten minutes old."""
    message_id = header(request, "Twitch-Eventsub-Message-Id")
    stamp = header(request, "Twitch-Eventsub-Message-Timestamp")
    name = "Twitch-Eventsub-Message-Signature"
    signature = header(request, name)
    fresh(iso_seconds(stamp, "Twitch-Eventsub-Message-Timestamp"), tolerance, now)
    if not signature.startswith("sha256="):
        raise ValidationError(f"{name} does not start with 'sha256='")
    expect(name, [signature[7:]],
           digest(secret, (message_id + stamp).encode() + request.raw_body).hex())


def close(request: Request, secret: str, *, tolerance: float = 300,
          now: float | None = None) -> None:
    """Close: ``close-sig-hash`` (hex) over ``close-sig-timestamp`` + body, keyed with the
    hex signature key."""
    stamp = header(request, "close-sig-timestamp")
    signature = header(request, "close-sig-hash")
    fresh(seconds(stamp, "close-sig-timestamp"), tolerance, now)
    key = unhex(secret, "signature key")
    expect("Close-Sig-Hash", [signature], digest(key, stamp.encode() + request.raw_body).hex())


def zendesk(request: Request, secret: str, *, tolerance: float = 300,
            now: float | None = None) -> None:
    """``X-Zendesk-Webhook-Signature`` (base64) over the ISO timestamp header + body."""
    stamp_name = "X-Zendesk-Webhook-Signature-Timestamp"
    stamp = header(request, stamp_name)
    signature = header(request, "X-Zendesk-Webhook-Signature")
    fresh(iso_seconds(stamp, stamp_name), tolerance, now)
    expect("X-Zendesk-Webhook-Signature", [signature],
           encoded(digest(secret, stamp.encode() + request.raw_body), "base64"))


def linear(request: Request, secret: str, *, tolerance: float = 60,
           now: float | None = None) -> None:
    """``Linear-Signature: <hex>`` over the body, whose ``webhookTimestamp`` (ms) Linear's
    SDK wants within a minute."""
    signature = header(request, "Linear-Signature")
    expect("Linear-Signature", [signature], digest(secret, request.raw_body).hex())
    body = request.json()
    stamp = body.get("webhookTimestamp") if isinstance(body, dict) else None
    if type(stamp) is not int:
        raise ValidationError("the body has no webhookTimestamp")
    fresh(stamp / 1000, tolerance, now)


SCHEMES = {
    "stripe": stripe, "calendly": calendly, "paddle": paddle, "recurly": recurly,
    "slack": slack, "zoom": zoom, "standard-webhooks": standard_webhooks,
    "twitch": twitch, "close": close, "zendesk": zendesk, "linear": linear,
}
