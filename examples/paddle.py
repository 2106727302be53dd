"""Paddle Billing: customer, subscription and transaction notifications as Segment events.

Point a Paddle notification destination (Developer Tools > Notifications, type webhook) at
this function with ``customer.*``, ``subscription.*``, ``transaction.completed`` and
``transaction.payment_failed``. The Paddle customer is the ``userId`` (``ctm_…``):

- ``customer.created`` / ``customer.updated`` identify them with email, name and locale.
- ``subscription.created``, ``activated``, ``updated``, ``canceled``, ``paused``,
  ``resumed``, ``past_due``, ``trialing`` track ``Subscription Created``, ``Subscription
  Activated``, ... ``Subscription Past Due``, with the status, billing cycle and the
  items' products, prices (in major units) and quantities.
- ``transaction.completed`` tracks ``Order Completed`` with Segment's e-commerce
  properties; ``transaction.payment_failed`` tracks ``Payment Failed``.

Other notifications (addresses, businesses, prices, payouts, ...) are refused as
unsupported. Paddle Classic's form-encoded alerts are not read.

Settings:
    webhookSecret (string, optional, encrypted): the notification destination's secret
        key. When set, every delivery must carry a valid ``Paddle-Signature`` made in the
        last five seconds, as Paddle's SDKs allow.
"""

from segfn import (
    EventNotSupported,
    Segment,
    compact,
    iso_timestamp,
    require,
    verify_signature,
)

SUBSCRIPTION_EVENTS = ("created", "activated", "updated", "canceled", "paused", "resumed",
                       "past_due", "trialing")
# Currencies Paddle counts in whole units rather than cents.
ZERO_DECIMAL = ("JPY", "KRW")


def on_request(request, settings):
    if settings.get("webhookSecret"):
        verify_signature(request, "paddle", settings["webhookSecret"])
    body = request.json()
    kind = require(body, "event_type")
    data = require(body, "data")
    timestamp = iso_timestamp(body["occurred_at"]) if body.get("occurred_at") else None
    entity, _, action = kind.partition(".")
    if entity == "customer" and action in ("created", "updated"):
        identify_customer(data, timestamp)
    elif entity == "subscription" and action in SUBSCRIPTION_EVENTS:
        track_subscription(data, action, timestamp)
    elif kind in ("transaction.completed", "transaction.payment_failed"):
        track_transaction(data, action, timestamp)
    else:
        raise EventNotSupported(f"Paddle event {kind!r} is not supported")


def identify_customer(customer, timestamp):
    Segment.identify({
        "userId": require(customer, "id", within="data"),
        "timestamp": timestamp,
        "traits": compact({"email": customer.get("email"), "name": customer.get("name"),
                           "locale": customer.get("locale"),
                           "status": customer.get("status"),
                           "createdAt": customer.get("created_at")}),
    })


def track_subscription(subscription, action, timestamp):
    currency = subscription.get("currency_code")
    cycle = subscription.get("billing_cycle") or {}
    Segment.track({
        "userId": require(subscription, "customer_id", within="data"),
        "event": "Subscription " + action.replace("_", " ").title(),
        "timestamp": timestamp,
        "properties": compact({
            "subscription_id": require(subscription, "id", within="data"),
            "status": subscription.get("status"),
            "currency": currency,
            "billing_interval": cycle.get("interval"),
            "billing_frequency": cycle.get("frequency"),
            "started_at": subscription.get("started_at"),
            "canceled_at": subscription.get("canceled_at"),
            "paused_at": subscription.get("paused_at"),
            "next_billed_at": subscription.get("next_billed_at"),
            "products": [item_product(item, currency) for item in
                         subscription.get("items") or []],
        }),
    })


def track_transaction(transaction, action, timestamp):
    currency = transaction.get("currency_code")
    totals = (transaction.get("details") or {}).get("totals") or {}
    Segment.track({
        "userId": require(transaction, "customer_id", within="data"),
        "event": "Order Completed" if action == "completed" else "Payment Failed",
        "timestamp": timestamp,
        "properties": compact({
            "order_id": require(transaction, "id", within="data"),
            "subscription_id": transaction.get("subscription_id"),
            "invoice_number": transaction.get("invoice_number"),
            "origin": transaction.get("origin"),
            "total": money(totals.get("total"), currency),
            "revenue": money(totals.get("earnings"), currency),
            "tax": money(totals.get("tax"), currency),
            "discount": money(totals.get("discount"), currency),
            "currency": currency,
            "products": [item_product(item, currency) for item in
                         transaction.get("items") or []],
        }),
    })


def item_product(item, currency):
    price = item.get("price") or {}
    product = item.get("product") or {}
    return compact({
        "product_id": price.get("product_id") or product.get("id"),
        "name": product.get("name") or price.get("name"),
        "variant": price.get("name"),
        "price_id": price.get("id"),
        "price": money((price.get("unit_price") or {}).get("amount"), currency),
        "quantity": item.get("quantity"),
    })


def money(amount, currency):
    """Paddle sends amounts as strings in the currency's lowest unit ("3000" is $30)."""
    if amount is None:
        return None
    return float(amount) if currency in ZERO_DECIMAL else int(amount) / 100
