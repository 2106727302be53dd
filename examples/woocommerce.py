"""WooCommerce: order webhooks as Segment e-commerce events.

Point WooCommerce webhooks (WooCommerce > Settings > Advanced > Webhooks, API version
WP REST API v3) at this function with the topics ``order.created``, ``order.updated``,
``order.deleted`` or ``order.restored``. The customer is the ``userId`` (their WordPress
user id), or for a guest (``customer_id`` 0) an ``anonymousId`` derived from the billing
email; they are identified with their billing name, email, phone and address. The order
is tracked by its status: ``Order Completed`` (``processing`` or ``completed``: paid),
``Order Cancelled``, ``Order Refunded``, else ``Order Updated`` (pending, on hold,
failed), and ``Order Deleted`` for ``order.deleted``, with Segment's e-commerce
properties. The ping WooCommerce sends when a webhook is saved is acknowledged without
events; other topics (products, coupons, customers) are refused as unsupported.

Settings:
    webhookSecret (string, optional, encrypted): the webhook's secret. When set, every
        delivery must carry a valid ``X-WC-Webhook-Signature``.
"""

from segfn import (
    EventNotSupported,
    Segment,
    ValidationError,
    anonymous_id,
    compact,
    console,
    iso_timestamp,
    require,
    verify_signature,
)

TOPICS = ("order.created", "order.updated", "order.deleted", "order.restored")
STATUSES = {"processing": "Order Completed", "completed": "Order Completed",
            "cancelled": "Order Cancelled", "refunded": "Order Refunded"}


def on_request(request, settings):
    # The ping is unsigned form data, sent before any secret is in use; it emits nothing.
    if not request.headers.get("X-WC-Webhook-Topic") and request.form().get("webhook_id"):
        console.log(f"ping from webhook {request.form().get('webhook_id')}")
        return
    if settings.get("webhookSecret"):
        verify_signature(request, "woocommerce", settings["webhookSecret"])
    topic = request.headers.get("X-WC-Webhook-Topic")
    if topic and topic not in TOPICS:
        raise EventNotSupported(f"WooCommerce topic {topic!r} is not supported")
    order = request.json()
    require(order, "id")
    who = customer_identity(order)
    timestamp = order_time(order)
    if topic == "order.deleted":
        Segment.track({**who, "event": "Order Deleted", "timestamp": timestamp,
                       "properties": {"order_id": str(order["id"])}})
        return
    if "line_items" not in order:
        raise ValidationError("line_items is missing")
    Segment.identify({**who, "traits": customer_traits(order), "timestamp": timestamp})
    Segment.track({**who, "event": STATUSES.get(order.get("status"), "Order Updated"),
                   "properties": order_properties(order), "timestamp": timestamp})


def customer_identity(order):
    if order.get("customer_id"):
        return {"userId": str(order["customer_id"])}
    email = (order.get("billing") or {}).get("email")
    if email:
        return {"anonymousId": anonymous_id(email)}
    raise ValidationError("customer_id and billing.email are both missing")


def order_time(order):
    """When the order last changed (``date_modified_gmt`` is UTC without a zone)."""
    modified = order.get("date_modified_gmt")
    return iso_timestamp(modified + "Z") if modified else None


def customer_traits(order):
    billing = order.get("billing") or {}
    return compact({
        "email": billing.get("email"),
        "firstName": billing.get("first_name"),
        "lastName": billing.get("last_name"),
        "company": billing.get("company"),
        "phone": billing.get("phone"),
        "address": compact({
            "street": billing.get("address_1"),
            "city": billing.get("city"),
            "state": billing.get("state"),
            "postalCode": billing.get("postcode"),
            "country": billing.get("country"),
        }),
    })


def order_properties(order):
    return compact({
        "order_id": str(order["id"]),
        "order_number": order.get("number"),
        "status": order.get("status"),
        "total": money(order.get("total")),
        "tax": money(order.get("total_tax")),
        "shipping": money(order.get("shipping_total")),
        "discount": money(order.get("discount_total")),
        "currency": order.get("currency"),
        "coupon": ",".join(line["code"] for line in order.get("coupon_lines") or []
                           if line.get("code")) or None,
        "payment_method": order.get("payment_method"),
        "products": [product(item) for item in order["line_items"]],
    })


def product(item):
    return compact({
        "product_id": str(item["product_id"]) if item.get("product_id") else None,
        "variant": str(item["variation_id"]) if item.get("variation_id") else None,
        "sku": item.get("sku"),
        "name": item.get("name"),
        "price": money(item.get("price")),
        "quantity": item.get("quantity"),
    })


def money(value):
    """WooCommerce sends totals as decimal strings ("29.35") and prices as numbers."""
    return float(value) if value not in (None, "") else None
