"""PayPal: completed checkouts as Segment events; plans, orders and payments as objects.

Point a PayPal webhook (developer dashboard > your app > Webhooks) at this function with
these events: ``CHECKOUT.ORDER.COMPLETED``, ``PAYMENT.ORDER.CREATED``,
``PAYMENT.CAPTURE.COMPLETED``, ``PAYMENT.CAPTURE.DENIED``, ``PAYMENT.CAPTURE.REFUNDED``,
``BILLING.PLAN.CREATED``, ``BILLING.PLAN.ACTIVATED``, ``BILLING.PLAN.UPDATED`` and
``BILLING.PLAN.DEACTIVATED``.

A completed checkout names its payer, who is identified (``userId`` is the PayPal payer
id, or the ``account_id`` of the ``payment_source.paypal`` wallet newer orders carry; an
anonymousId from the email when there is neither) and tracked with ``Order Completed``,
its total the ``gross_amount`` or the sum of the purchase units. An order naming no payer
is saved without events. The other events name no customer, so they
update objects only: ``orders``, ``payments`` and ``plans``, each keyed by PayPal's id.

Settings: none. (PayPal signs webhooks with a certificate checked through its API, not a
shared secret; use an unguessable webhook URL.)
"""

from segfn import EventNotSupported, Segment, anonymous_id, compact, console, require


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
    who, traits = buyer(order)
    total = order_total(order)
    properties = {
        "order_id": order["id"],
        "total": total.get("value"),
        "revenue": total.get("value"),
        "currency": total.get("currency_code"),
        "status": order.get("status"),
    }
    save("orders", order, {
        "total": properties["total"],
        "currency": properties["currency"],
        "status": order.get("status"),
        "payer_id": who.get("userId"),
    })
    if not who:
        console.log(f"order {order['id']} names no payer: saved, no event")
        return
    if traits:
        Segment.identify({**who, "traits": traits})
    Segment.track({
        **who,
        "event": "Order Completed",
        "properties": {key: value for key, value in properties.items() if value is not None},
        "timestamp": order.get("update_time"),
    })


def buyer(order):
    """Who paid, and their traits: the ``payer`` of Orders v2, else the PayPal wallet of
    ``payment_source`` that newer orders carry instead (``account_id``, email, name)."""
    payer = order.get("payer") or {}
    wallet = (order.get("payment_source") or {}).get("paypal") or {}
    payer_id = payer.get("payer_id") or wallet.get("account_id")
    email = payer.get("email_address") or wallet.get("email_address")
    name = payer.get("name") or wallet.get("name") or {}
    traits = compact({"email": email, "firstName": name.get("given_name"),
                      "lastName": name.get("surname")})
    if payer_id:
        return {"userId": payer_id}, traits
    if email:
        return {"anonymousId": anonymous_id(email)}, traits
    return {}, traits


def order_total(order):
    """``gross_amount`` when PayPal sends it, else the sum of the purchase units."""
    if order.get("gross_amount"):
        gross = order["gross_amount"]
        return {"value": money(gross.get("value")), "currency_code": gross.get("currency_code")}
    amounts = [unit.get("amount") or {} for unit in order.get("purchase_units") or []]
    currencies = {amount.get("currency_code") for amount in amounts if amount.get("value")}
    if len(currencies) != 1:
        return {}  # no amount, or units in several currencies: no one total
    return {"value": sum(money(a["value"]) for a in amounts if a.get("value")),
            "currency_code": currencies.pop()}


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
