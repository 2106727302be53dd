"""Schemes whose signature travels inside the body, over some of its fields."""

from __future__ import annotations

from typing import Any

from segfn.errors import ValidationError
from segfn.request import Request
from segfn.signatures.checks import digest, encoded, expect, fresh, seconds, unhex

# The fields of a NotificationRequestItem Adyen signs, in order, joined by ":".
_ADYEN_FIELDS = ("pspReference", "originalReference", "merchantAccountCode",
                 "merchantReference", "amount.value", "amount.currency", "eventCode", "success")


def _field(item: dict[str, Any], path: str) -> str:
    value: Any = item
    for name in path.split("."):
        value = value.get(name) if isinstance(value, dict) else None
    # An absent field signs as the empty string.
    return "" if value is None else str(value)


def _adyen_items(request: Request) -> list[Any]:
    body = request.json()
    items = body.get("notificationItems") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise ValidationError("the body has no notificationItems")
    return [entry.get("NotificationRequestItem") if isinstance(entry, dict) else None
            for entry in items]


def adyen(request: Request, secret: str) -> None:
    """Each ``notificationItems[].NotificationRequestItem``'s
    ``additionalData.hmacSignature``: base64 HMAC-SHA256 of its signed fields, keyed with
    the hex HMAC key. Webhooks that sign the whole body (Banking, Management) send it in
    an ``HmacSignature`` header instead."""
    key = unhex(secret, "HMAC key")
    signature = request.headers.get("HmacSignature")
    if signature:
        expect("HmacSignature", [signature], encoded(digest(key, request.raw_body), "base64"))
        return
    for index, item in enumerate(_adyen_items(request)):
        where = f"notificationItems[{index}].NotificationRequestItem"
        if not isinstance(item, dict):
            raise ValidationError(f"{where} is missing")
        given = (item.get("additionalData") or {}).get("hmacSignature")
        if not isinstance(given, str) or not given:
            raise ValidationError(f"{where} has no additionalData.hmacSignature")
        signed = ":".join(_field(item, path) for path in _ADYEN_FIELDS)
        expect(f"{where}.additionalData.hmacSignature", [given],
               encoded(digest(key, signed.encode()), "base64"), "the notification")


def _mailgun_signature(request: Request) -> dict[str, Any]:
    """Webhooks send ``{"signature": {...}, "event-data": ...}``; legacy webhooks and
    inbound routes post the same three fields as a form."""
    if request.raw_body.lstrip().startswith(b"{"):
        body = request.json()
        signature = body.get("signature") if isinstance(body, dict) else None
        if not isinstance(signature, dict):
            raise ValidationError("the body has no signature object")
        return signature
    return request.form().to_dict()


def mailgun(request: Request, secret: str, *, tolerance: float = 300,
            now: float | None = None) -> None:
    """``signature.signature``: hex HMAC-SHA256 of ``timestamp`` + ``token``, keyed with
    the webhook signing key."""
    fields = _mailgun_signature(request)
    for name in ("timestamp", "token", "signature"):
        if type(fields.get(name)) not in (str, int) or fields[name] == "":
            raise ValidationError(f"the body's signature has no {name}")
    stamp, token = str(fields["timestamp"]), str(fields["token"])
    fresh(seconds(stamp, "signature.timestamp"), tolerance, now)
    expect("signature.signature", [str(fields["signature"])],
           digest(secret, (stamp + token).encode()).hex(), "its timestamp and token")


SCHEMES = {"adyen": adyen, "mailgun": mailgun}
