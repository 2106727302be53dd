"""PayPal: completed checkouts as Segment events; plans, orders and payments as objects.

Point a PayPal webhook (developer dashboard > your app > Webhooks) at this function with
these events: ``CHECKOUT.ORDER.COMPLETED``, ``PAYMENT.ORDER.CREATED``,
``PAYMENT.CAPTURE.COMPLETED``, ``PAYMENT.CAPTURE.DENIED``, ``PAYMENT.CAPTURE.REFUNDED``,
``BILLING.PLAN.CREATED``, ``BILLING.PLAN.ACTIVATED``, ``BILLING.PLAN.UPDATED`` and
``BILLING.PLAN.DEACTIVATED``.

A completed checkout names its payer, who is identified (``userId`` is the PayPal payer
id) and tracked with ``Order Completed``. The other events name no customer, so they
update objects only: ``orders``, ``payments`` and ``plans``, each keyed by PayPal's id.

Settings: none. (PayPal signs webhooks with a certificate checked through its API, not a
shared secret; use an unguessable webhook URL.)
"""

from segfn import EventNotSupported, Segment, require


def on_request(request, settings):
    body = request.json()
    event_type = require(body, "event_type")
    require(body, "resource.id")
    resource = body["resource"]
    handler = HANDLERS.get(event_type)
    if handler is None:
        raise EventNotSupported(f"PayPal event {event_type!r} is not supported")
    handler(resource)


def checkout_order_completed(order):
    require(order, "payer.payer_id", within="resource")
    payer = order["payer"]
    total = order.get("gross_amount") or {}
    properties = {
        "order_id": order["id"],
        "total": money(total.get("value")),
        "revenue": money(total.get("value")),
        "currency": total.get("currency_code"),
        "status": order.get("status"),
    }
    name = payer.get("name") or {}
    Segment.identify({
        "userId": payer["payer_id"],
        "traits": {
            "email": payer.get("email_address"),
            "firstName": name.get("given_name"),
            "lastName": name.get("surname"),
        },
    })
    Segment.track({
        "userId": payer["payer_id"],
        "event": "Order Completed",
        "properties": properties,
        "timestamp": order.get("update_time"),
    })
    save("orders", order, {
        "total": properties["total"],
        "currency": properties["currency"],
        "status": order.get("status"),
        "payer_id": payer["payer_id"],
    })


def payment_order_created(order):
    total = order.get("amount") or {}
    save("orders", order, {
        "total": money(total.get("total")),
        "currency": total.get("currency"),
        "status": order.get("state"),
        "parent_payment": order.get("parent_payment"),
    })


def capture_changed(capture):
    total = capture.get("amount") or {}
    breakdown = capture.get("seller_receivable_breakdown") or {}
    save("payments", capture, {
        "amount": money(total.get("value")),
        "currency": total.get("currency_code"),
        "status": capture.get("status"),
        "final_capture": capture.get("final_capture"),
        "paypal_fee": money((breakdown.get("paypal_fee") or {}).get("value")),
        "net_amount": money((breakdown.get("net_amount") or {}).get("value")),
    })


def plan_changed(plan):
    save("plans", plan, {
        "name": plan.get("name"),
        "description": plan.get("description"),
        # Billing plans v2 report "status"; the older v1 plans report "state".
        "status": plan.get("status") or plan.get("state"),
        "product_id": plan.get("product_id"),
    })


HANDLERS = {
    "CHECKOUT.ORDER.COMPLETED": checkout_order_completed,
    "PAYMENT.ORDER.CREATED": payment_order_created,
    "PAYMENT.CAPTURE.COMPLETED": capture_changed,
    "PAYMENT.CAPTURE.DENIED": capture_changed,
    "PAYMENT.CAPTURE.REFUNDED": capture_changed,
    "BILLING.PLAN.CREATED": plan_changed,
    "BILLING.PLAN.ACTIVATED": plan_changed,
    "BILLING.PLAN.UPDATED": plan_changed,
    "BILLING.PLAN.DEACTIVATED": plan_changed,
}


def save(collection, resource, properties):
    """Store ``resource`` under its PayPal id, with the times every resource carries."""
    properties["created_at"] = resource.get("create_time")
    properties["updated_at"] = resource.get("update_time")
    Segment.set({
        "collection": collection,
        "id": resource["id"],
        "properties": {key: value for key, value in properties.items() if value is not None},
    })


def money(value):
    """PayPal sends amounts as decimal strings ("100.00")."""
    return float(value) if value is not None else None
