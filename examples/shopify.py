"""Shopify: order webhooks as Segment e-commerce events.

Point Shopify order webhooks (Settings > Notifications > Webhooks, format JSON) at this
function: ``orders/create``, ``orders/updated``, ``orders/paid``, ``orders/fulfilled``,
``orders/cancelled``. Other topics are refused as unsupported.

The customer is the ``userId`` (their Shopify customer id), or for a guest checkout an
``anonymousId`` derived from the order's email (``email``, else ``contact_email``); they
are identified with their name, email, phone and address. An order with neither (point of
sale, or a guest who gave no email: ``customer`` null and ``email`` ``""``) is still
tracked, anonymously by the cart, checkout or order token Shopify gave it, without an
identify; only an order with none of these is refused.

The order is tracked by what state it is in: ``Order Cancelled``, ``Order Refunded``,
``Order Completed`` (paid and fulfilled) or ``Order Updated``, with Segment's e-commerce
properties (``order_id``, ``total``, ``products``, ...). The order and its products are
saved as objects (``orders``, ``products``).

Settings:
    webhookSecret (string, optional, encrypted): the app's webhook signing secret. When
        set, every delivery must carry a valid ``X-Shopify-Hmac-Sha256``.
"""

from segfn import (
    EventNotSupported,
    Segment,
    ValidationError,
    anonymous_id,
    compact,
    iso_timestamp,
    require,
    verify_signature,
)


def on_request(request, settings):
    if settings.get("webhookSecret"):
        verify_signature(request, "shopify", settings["webhookSecret"])
    topic = request.headers.get("X-Shopify-Topic")
    # Deliveries replayed from a log may lack the header; the body tells it is an order.
    if topic and not topic.startswith("orders/"):
        raise EventNotSupported(f"Shopify topic {topic!r} is not supported")
    order = request.json()
    require(order, "id")
    if "line_items" not in order:
        raise ValidationError("line_items is missing")

    who = customer_identity(order)
    timestamp = iso_timestamp(order["updated_at"]) if order.get("updated_at") else None
    if (order.get("customer") or {}).get("id") or order_email(order):
        Segment.identify({**who, "traits": customer_traits(order), "timestamp": timestamp})
    Segment.track({
        **who,
        "event": event_name(order),
        "properties": order_properties(order),
        "timestamp": timestamp,
    })
    save_records(order)


def customer_identity(order):
    customer = order.get("customer") or {}
    if customer.get("id"):
        return {"userId": str(customer["id"])}
    if order_email(order):
        return {"anonymousId": anonymous_id(order_email(order))}
    # Shopify's own anonymous ids: the cart's and checkout's reach the storefront's events.
    for token in ("cart_token", "checkout_token", "token"):
        if order.get(token):
            return {"anonymousId": str(order[token])}
    raise ValidationError("customer.id, email, contact_email and the order's tokens are all "
                          "missing: nobody to attribute the order to")


def order_email(order):
    """The buyer's email; Shopify sends ``""`` when there is none."""
    return (order.get("email") or order.get("contact_email") or "").strip() or None


def event_name(order):
    """What the order's state says happened to it, in Segment's e-commerce spec."""
    financial = order.get("financial_status")
    if order.get("cancelled_at") or financial == "voided":
        return "Order Cancelled"
    if financial in ("refunded", "partially_refunded"):
        return "Order Refunded"
    if financial == "paid" and order.get("fulfillment_status") == "fulfilled":
        return "Order Completed"
    return "Order Updated"


def customer_traits(order):
    customer = order.get("customer") or {}
    address = customer.get("default_address") or order.get("billing_address") or {}
    return compact({
        "email": order_email(order) or customer.get("email"),
        "firstName": customer.get("first_name"),
        "lastName": customer.get("last_name"),
        "phone": customer.get("phone") or address.get("phone"),
        "createdAt": customer.get("created_at"),
        "address": compact({
            "street": address.get("address1"),
            "city": address.get("city"),
            "state": address.get("province"),
            "postalCode": address.get("zip"),
            "country": address.get("country"),
        }),
    })


def order_properties(order):
    shipping = (order.get("total_shipping_price_set") or {}).get("shop_money") or {}
    return compact({
        "order_id": str(order["id"]),
        "order_number": order.get("order_number"),
        "checkout_id": order.get("checkout_id"),
        "total": money(order.get("total_price")),
        "subtotal": money(order.get("subtotal_price")),
        "tax": money(order.get("total_tax")),
        "discount": money(order.get("total_discounts")),
        "shipping": money(shipping.get("amount")),
        "currency": order.get("currency"),
        "coupon": ",".join(code["code"] for code in order.get("discount_codes", [])) or None,
        "financial_status": order.get("financial_status"),
        "fulfillment_status": order.get("fulfillment_status"),
        "products": [product(item) for item in order["line_items"]],
    })


def product(item):
    return compact({
        "product_id": str(item["product_id"]) if item.get("product_id") else None,
        "variant": item.get("variant_title"),
        "sku": item.get("sku") or None,
        "name": item.get("title"),
        "brand": item.get("vendor"),
        "price": money(item.get("price")),
        "quantity": item.get("quantity"),
    })


def save_records(order):
    Segment.set({
        "collection": "orders",
        "id": str(order["id"]),
        "properties": compact({
            "name": order.get("name"),
            "email": order_email(order),
            "total": money(order.get("total_price")),
            "currency": order.get("currency"),
            "financial_status": order.get("financial_status"),
            "fulfillment_status": order.get("fulfillment_status"),
            "created_at": order.get("created_at"),
            "updated_at": order.get("updated_at"),
        }),
    })
    for item in order["line_items"]:
        # Custom line items have no product behind them.
        if item.get("product_id"):
            Segment.set({
                "collection": "products",
                "id": str(item["product_id"]),
                "properties": compact({"title": item.get("title"), "vendor": item.get("vendor")}),
            })


def money(value):
    """Shopify sends amounts as decimal strings ("198.00")."""
    return float(value) if value is not None else None
