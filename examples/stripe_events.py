"""Stripe: customers, charges, subscriptions and invoices as Segment events.

Point a Stripe webhook endpoint (Developers > Webhooks) at this function with these
events: ``customer.created``, ``customer.updated``, ``customer.deleted``,
``charge.succeeded``,
``customer.subscription.created``, ``customer.subscription.updated``,
``customer.subscription.deleted``, ``customer.subscription.trial_will_end``,
``invoice.paid`` and ``invoice.payment_failed``.

The Stripe customer id (``cus_...``) is the ``userId``. Customers are identified with
their traits; charges, subscriptions and invoices are tracked (``Charge Succeeded``,
``Subscription Created``, ``Trial Ending Soon``, ``Invoice Paid``, ...) with amounts in
the currency's unit (1999 cents become 19.99). Charges and plans are also saved as
objects (collections ``charges`` and ``plans``). Other event types raise
EventNotSupported.

Every API version is read: since 2025-03-31 a subscription's plan (or price) and
``current_period_end`` are on its items, and an invoice's subscription is under
``parent.subscription_details``; older versions have them on the subscription and the
invoice themselves. (A charge of those versions no longer names its invoice.)

Settings:
    webhookSecret (string, optional, encrypted): the endpoint's signing secret
        (``whsec_...``). When set, every delivery must carry a valid ``Stripe-Signature``
        no more than five minutes old.
"""

from segfn import (
    EventNotSupported,
    Segment,
    anonymous_id,
    compact,
    console,
    iso_timestamp,
    require,
    verify_signature,
)

# Currencies Stripe counts in whole units rather than cents.
ZERO_DECIMAL_CURRENCIES = {
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga",
    "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf",
}

CUSTOMER_EVENTS = {
    "customer.created": "Customer Created",
    "customer.updated": "Customer Updated",
    "customer.deleted": "Customer Deleted",
}

SUBSCRIPTION_EVENTS = {
    "customer.subscription.created": "Subscription Created",
    "customer.subscription.updated": "Subscription Updated",
    "customer.subscription.deleted": "Subscription Canceled",
    "customer.subscription.trial_will_end": "Trial Ending Soon",
}

INVOICE_EVENTS = {
    "invoice.paid": "Invoice Paid",
    "invoice.payment_failed": "Invoice Payment Failed",
}


def on_request(request, settings):
    if settings.get("webhookSecret"):
        verify_signature(request, "stripe", settings["webhookSecret"])
    body = request.json()
    kind = require(body, "type")
    obj = require(body, "data.object")
    # When the event happened at Stripe, not when the webhook arrived.
    timestamp = iso_timestamp(body["created"]) if "created" in body else None

    if kind in CUSTOMER_EVENTS:
        customer_changed(obj, CUSTOMER_EVENTS[kind], timestamp)
    elif kind == "charge.succeeded":
        charge_succeeded(obj, timestamp)
    elif kind in SUBSCRIPTION_EVENTS:
        subscription_changed(obj, SUBSCRIPTION_EVENTS[kind], timestamp)
    elif kind in INVOICE_EVENTS:
        invoice_changed(obj, INVOICE_EVENTS[kind], timestamp)
    else:
        raise EventNotSupported(f"Stripe event {kind!r} is not supported")


def customer_changed(customer, event, timestamp):
    user_id = require(customer, "id", within="data.object")
    if event != "Customer Deleted":
        identify_customer(customer, timestamp)
    Segment.track({
        "userId": user_id,
        "event": event,
        "properties": {"customer_id": user_id},
        "timestamp": timestamp,
    })


def identify_customer(customer, timestamp):
    Segment.identify({
        "userId": customer["id"],
        "traits": compact({
            "email": customer.get("email"),
            "name": customer.get("name"),
            "phone": customer.get("phone"),
            "description": customer.get("description"),
            "createdAt": optional_time(customer.get("created")),
            "currency": customer.get("currency"),
            "delinquent": customer.get("delinquent"),
        }),
        "timestamp": timestamp,
    })


def charge_succeeded(charge, timestamp):
    currency = charge["currency"]
    properties = compact({
        "charge_id": charge["id"],
        "amount": amount(charge["amount"], currency),
        "currency": currency,
        "description": charge.get("description"),
        "invoice_id": charge.get("invoice"),
        "payment_method": (charge.get("payment_method_details") or {}).get("type"),
        "status": charge.get("status"),
    })
    Segment.set({"collection": "charges", "id": charge["id"], "properties": properties})
    email = charge.get("receipt_email") or (charge.get("billing_details") or {}).get("email")
    who = identity(charge.get("customer"), email)
    if who is None:
        # A one-off charge with no customer and no email: nobody to attribute it to.
        console.log(f"charge {charge['id']} has no customer or email; saved as an object")
        return
    Segment.track({**who, "event": "Charge Succeeded", "properties": properties,
                   "timestamp": timestamp})


def subscription_changed(subscription, event, timestamp):
    customer = require(subscription, "customer", within="data.object")
    item = first_item(subscription)
    plan = subscription.get("plan") or item.get("plan") or price_plan(item.get("price"))
    if plan:
        save_plan(plan)
    Segment.track({
        "userId": customer,
        "event": event,
        "properties": compact({
            "subscription_id": subscription["id"],
            "status": subscription.get("status"),
            "plan_id": plan.get("id"),
            "plan_name": plan.get("nickname") or plan.get("name"),
            "plan_interval": plan.get("interval"),
            "trial_start": optional_time(subscription.get("trial_start")),
            "trial_end": optional_time(subscription.get("trial_end")),
            "current_period_end": optional_time(
                subscription.get("current_period_end") or item.get("current_period_end")),
        }),
        "timestamp": timestamp,
    })


def first_item(subscription):
    """The subscription's first item: where API versions since 2025-03-31 keep its plan,
    price and current period."""
    items = (subscription.get("items") or {}).get("data") or []
    return items[0] if items else {}


def price_plan(price):
    """A price (an item with no plan) read as the plan it replaces."""
    if not price:
        return None
    recurring = price.get("recurring") or {}
    return {"id": price.get("id"), "nickname": price.get("nickname"),
            "product": price.get("product"), "amount": price.get("unit_amount"),
            "currency": price.get("currency"), "interval": recurring.get("interval"),
            "interval_count": recurring.get("interval_count"),
            "trial_period_days": recurring.get("trial_period_days"),
            "active": price.get("active")}


def save_plan(plan):
    Segment.set({
        "collection": "plans",
        "id": plan["id"],
        "properties": compact({
            "name": plan.get("nickname") or plan.get("name"),
            "product_id": plan.get("product"),
            "amount": amount(plan.get("amount"), plan.get("currency")),
            "currency": plan.get("currency"),
            "interval": plan.get("interval"),
            "interval_count": plan.get("interval_count"),
            "trial_period_days": plan.get("trial_period_days"),
            "active": plan.get("active"),
        }),
    })


def invoice_changed(invoice, event, timestamp):
    customer = require(invoice, "customer", within="data.object")
    currency = invoice["currency"]
    Segment.track({
        "userId": customer,
        "event": event,
        "properties": compact({
            "invoice_id": invoice["id"],
            "subscription_id": invoice_subscription(invoice),
            "amount_due": amount(invoice.get("amount_due"), currency),
            "amount_paid": amount(invoice.get("amount_paid"), currency),
            "currency": currency,
            "status": invoice.get("status"),
            "attempt_count": invoice.get("attempt_count"),
            "invoice_url": invoice.get("hosted_invoice_url"),
        }),
        "timestamp": timestamp,
    })


def invoice_subscription(invoice):
    """The invoice's subscription id: on the invoice before 2025-03-31, under
    ``parent.subscription_details`` since; expanded to an object when asked."""
    subscription = invoice.get("subscription") or (
        ((invoice.get("parent") or {}).get("subscription_details") or {}).get("subscription"))
    return subscription.get("id") if isinstance(subscription, dict) else subscription


def identity(customer_id, email):
    """The customer as ``userId``; failing that, an ``anonymousId`` from their email."""
    if customer_id:
        return {"userId": customer_id}
    if email:
        return {"anonymousId": anonymous_id(email)}
    return None


def amount(minor_units, currency):
    """Stripe amounts are integers in the currency's smallest unit (cents for USD)."""
    if minor_units is None:
        return None
    if (currency or "").lower() in ZERO_DECIMAL_CURRENCIES:
        return minor_units
    return minor_units / 100


def optional_time(seconds):
    return iso_timestamp(seconds) if seconds else None


