"""Adyen: payment notifications as Segment e-commerce events.

Point a Standard webhook (JSON) in Adyen's Customer Area (Developers > Webhooks) at this
function's URL. Every notification item becomes one track call:

| eventCode                  | success "true"   | success "false"           |
| -------------------------- | ---------------- | ------------------------- |
| AUTHORISATION              | Order Completed  | Payment Failed            |
| CAPTURE                    | Payment Captured | Payment Capture Failed    |
| CANCELLATION               | Order Cancelled  | Order Cancellation Failed |
| REFUND, REFUND_WITH_DATA   | Order Refunded   | Refund Failed             |
| ORDER_OPENED               | Order Opened     | Order Opened              |

An item with another event code is skipped (and logged) when the notification has items
this function handles; a notification of only such items raises EventNotSupported.

The event is about the shopper when Adyen knows them (``shopperReference`` becomes the
userId, ``shopperEmail`` an anonymousId); otherwise the anonymousId is your
``merchantReference``, the order reference you gave Adyen, so the event joins the checkout
that created it. A notification without one (a payment or modification made without a
reference) is still tracked: its anonymousId is the ``originalReference`` of the payment
it modifies, or its own ``pspReference``, so a payment's events share one id.

The ``pspReference`` and event code make the messageId: Adyen re-sends a
notification until it is accepted, and a repeated messageId lets Segment drop the copy.

Settings:

| name    | type   | required | encrypted | meaning                                              |
| ------- | ------ | -------- | --------- | ---------------------------------------------------- |
| hmacKey | string | no       | yes       | the webhook's HMAC key (hex); when set, every item's |
|         |        |          |           | ``additionalData.hmacSignature`` must match          |

Adyen signs each notification item, not the request body: the HMAC-SHA256 (keyed with the
hex-decoded HMAC key, base64-encoded) of ``pspReference:originalReference:
merchantAccountCode:merchantReference:value:currency:eventCode:success``.
"""

import base64
import hashlib
import hmac

from segfn import (
    EventNotSupported,
    Segment,
    ValidationError,
    anonymous_id,
    console,
    iso_timestamp,
    require,
)

# eventCode -> (event name when success is "true", event name when it is "false")
EVENTS = {
    "AUTHORISATION": ("Order Completed", "Payment Failed"),
    "CAPTURE": ("Payment Captured", "Payment Capture Failed"),
    "CANCELLATION": ("Order Cancelled", "Order Cancellation Failed"),
    "REFUND": ("Order Refunded", "Refund Failed"),
    "REFUND_WITH_DATA": ("Order Refunded", "Refund Failed"),
    "ORDER_OPENED": ("Order Opened", "Order Opened"),
}

# Adyen sends amounts in minor units; most currencies have two decimals, these do not
# (https://docs.adyen.com/development-resources/currency-codes).
DECIMALS = {
    "CVE": 0, "DJF": 0, "GNF": 0, "IDR": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
    "RWF": 0, "UGX": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}


def on_request(request, settings):
    body = request.json()
    items = body.get("notificationItems")
    if not items:
        raise ValidationError("notificationItems is missing or empty")
    requests = [entry.get("NotificationRequestItem") for entry in items]
    if any(item is None for item in requests):
        raise ValidationError("notificationItems[].NotificationRequestItem is missing")
    for item in requests:
        require(item, "eventCode", within="NotificationRequestItem")
        if settings.get("hmacKey"):
            verify_signature(item, settings["hmacKey"])
    handled = [item for item in requests if item["eventCode"] in EVENTS]
    if not handled:
        codes = ", ".join(sorted({item["eventCode"] for item in requests}))
        raise EventNotSupported(f"Adyen event {codes} is not supported")
    for item in requests:
        if item["eventCode"] in EVENTS:
            track(item, live=body.get("live") == "true")
        else:
            console.log(f"skipped {item['eventCode']} {item.get('pspReference')}: not supported")


def verify_signature(item, key):
    signature = require(item, "additionalData.hmacSignature")
    amount = item.get("amount", {})
    fields = [
        item.get("pspReference"), item.get("originalReference"),
        item.get("merchantAccountCode"), item.get("merchantReference"),
        amount.get("value"), amount.get("currency"), item.get("eventCode"), item.get("success"),
    ]
    # Absent fields sign as empty strings.
    signed = ":".join("" if value is None else str(value) for value in fields)
    digest = hmac.new(bytes.fromhex(key), signed.encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(signature, base64.b64encode(digest).decode()):
        raise ValidationError("additionalData.hmacSignature does not match the notification")


def track(item, live):
    code = item["eventCode"]
    psp_reference = require(item, "pspReference", within="NotificationRequestItem")
    success = item.get("success") == "true"
    extra = item.get("additionalData", {})
    amount = item.get("amount", {})
    properties = {
        "order_id": item.get("merchantReference"),
        "psp_reference": psp_reference,
        "original_reference": item.get("originalReference"),
        "total": major_units(amount),
        "currency": amount.get("currency"),
        "payment_method": item.get("paymentMethod"),
        "merchant_account": item.get("merchantAccountCode"),
        "success": success,
        "reason": item.get("reason"),
        "card_summary": extra.get("cardSummary"),
        "live": live,
    }
    Segment.track({
        **shopper(item),
        "event": EVENTS[code][0 if success else 1],
        "properties": {name: value for name, value in properties.items()
                       if value not in (None, "")},
        "context": {"ip": extra["shopperIP"]} if "shopperIP" in extra else None,
        "timestamp": iso_timestamp(item["eventDate"]) if "eventDate" in item else None,
        "messageId": f"adyen-{psp_reference}-{code}",
    })


def shopper(item):
    extra = item.get("additionalData", {})
    if extra.get("shopperReference"):
        return {"userId": extra["shopperReference"]}
    if extra.get("shopperEmail"):
        return {"anonymousId": anonymous_id(extra["shopperEmail"])}
    # The order's reference, else the payment's own: pspReference, or for a modification
    # (capture, refund, ...) the originalReference of the payment it modifies.
    return {"anonymousId": item.get("merchantReference") or item.get("originalReference")
            or item["pspReference"]}


def major_units(amount):
    if "value" not in amount:
        return None
    return amount["value"] / 10 ** DECIMALS.get(amount.get("currency"), 2)

