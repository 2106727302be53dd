import base64
import hashlib
import hmac
from pathlib import Path

from segfn import anonymous_id
from segfn.payloads import load_payload

SOURCE = "shopify"
HANDLER = Path(__file__).resolve().parents[2] / "examples" / "shopify.py"
EMAIL = "Heath.Osinski@developer-tools.shopifyapps.com"
UPDATED = "2019-06-27T21:52:20.000Z"


def calls(result):
    return [{k: v for k, v in m.items() if k not in ("messageId", "context")}
            for m in result.messages]


def test_refunded_order(load_handler, payloads):
    result = load_handler(HANDLER).post_payload(payloads / "Order.json",
                                                headers={"X-Shopify-Topic": "orders/updated"})
    assert result.ok, result.error
    assert calls(result) == [
        {"type": "identify", "userId": "1208265539635",
         "traits": {"email": EMAIL, "firstName": "Heath", "lastName": "Osinski",
                    "phone": "(247)978-1476 x5765",
                    "createdAt": "2019-06-27T14:12:31-04:00",
                    "address": {"street": "133 Jordane Rest", "country": "Canada"}},
         "timestamp": UPDATED},
        {"type": "track", "userId": "1208265539635", "event": "Order Refunded",
         "properties": {
             "order_id": "926679892019", "order_number": 1007, "total": 198.0,
             "subtotal": 198.0, "tax": 0.0, "discount": 0.0, "shipping": 0.0,
             "currency": "USD", "financial_status": "refunded",
             "fulfillment_status": "fulfilled",
             "products": [{"product_id": "1966408630323", "variant": "xxl",
                           "name": "Zipped Jacket", "brand": "Liam Fashions", "price": 66.0,
                           "quantity": 3}]},
         "timestamp": UPDATED},
    ]
    assert list(result.objects) == [
        {"collection": "orders", "id": "926679892019",
         "properties": {"name": "#1007", "email": EMAIL, "total": 198.0, "currency": "USD",
                        "financial_status": "refunded", "fulfillment_status": "fulfilled",
                        "created_at": "2019-06-27T14:12:45-04:00",
                        "updated_at": "2019-06-27T17:52:20-04:00"}},
        {"collection": "products", "id": "1966408630323",
         "properties": {"title": "Zipped Jacket", "vendor": "Liam Fashions"}},
    ]


def test_guest_checkout_is_anonymous(load_handler):
    order = {"id": 1, "email": "Guest@Example.com", "financial_status": "paid",
             "fulfillment_status": "fulfilled", "line_items": []}
    result = load_handler(HANDLER).post(json=order)
    assert [m["anonymousId"] for m in result.messages] == [anonymous_id("guest@example.com")] * 2
    assert result.tracks[0]["event"] == "Order Completed"


def test_every_payload_runs(load_handler, payload):
    result = load_handler(HANDLER).post_payload(payload)
    assert result.ok, result.error


def shopify_signature(body, secret):
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def test_signatures(load_handler, payloads):
    body = load_payload(payloads / "Order.json").body
    shopify = load_handler(HANDLER, settings={"webhookSecret": "shpss"})
    good = shopify.post(body, headers={"X-Shopify-Hmac-Sha256": shopify_signature(body,
                                                                                  "shpss")})
    bad = shopify.post(body, headers={"X-Shopify-Hmac-Sha256": shopify_signature(body, "x")})
    assert good.ok, good.error
    assert bad.error.type == "MessageRejected"
    assert "X-Shopify-Hmac-Sha256 does not match" in bad.error.message


def test_unsupported_topic(load_handler):
    result = load_handler(HANDLER).post(json={"id": 1},
                                        headers={"X-Shopify-Topic": "products/create"})
    assert result.error.type == "UnsupportedEventType"
    assert "products/create" in result.error.message


def test_missing_customer_and_email(load_handler):
    result = load_handler(HANDLER).post(json={"id": 1, "line_items": []})
    assert result.error.type == "MessageRejected"
    assert "nobody to attribute the order to" in result.error.message


def test_shopify_example_order_cancelled(load_handler, own_payloads):
    result = load_handler(HANDLER).post_payload(own_payloads / "orders-cancelled.json")
    assert result.ok, result.error
    identify, track = result.messages
    assert identify["userId"] == track["userId"] == "115310627314723954"
    assert identify["traits"] == {
        "email": "jon@example.com", "firstName": "John", "lastName": "Smith",
        "phone": "123-123-1234",
        "address": {"street": "123 Elm St.", "city": "Ottawa", "state": "Ontario",
                    "postalCode": "K2H7A8", "country": "Canada"}}
    assert track["event"] == "Order Cancelled"
    assert track["properties"]["total"] == 388.0
    assert track["properties"]["shipping"] == 10.0
    assert [p["sku"] for p in track["properties"]["products"]] == ["IPOD2008PINK"] * 2
    assert track["timestamp"] == "2022-01-01T00:00:00.000Z"


def test_point_of_sale_order_without_customer_or_email(load_handler, own_payloads):
    result = load_handler(HANDLER).post_payload(own_payloads / "orders-paid-pos-no-customer.json")
    assert result.ok, result.error
    # Nobody to identify: the order is tracked under its token.
    [track] = result.messages
    assert track["type"] == "track"
    assert track["anonymousId"] == "123456abcd"
    assert "userId" not in track
    assert track["event"] == "Order Completed"
    assert track["properties"]["total"] == 388.0
    order, *products = result.objects
    assert order["id"] == "820982911946154508"
    assert [p["id"] for p in products] == ["632910392", "632910392"]
    assert "email" not in order["properties"]


def test_guest_known_by_contact_email(load_handler):
    order = {"id": 2, "email": "", "contact_email": "Guest@Example.com", "line_items": []}
    result = load_handler(HANDLER).post(json=order)
    assert result.ok, result.error
    assert [m["anonymousId"] for m in result.messages] == [anonymous_id("guest@example.com")] * 2
    assert result.identifies[0]["traits"] == {"email": "Guest@Example.com"}


def test_checkout_token_comes_before_the_order_token(load_handler):
    order = {"id": 3, "email": "", "customer": None, "checkout_token": "ck-1", "token": "t-1",
             "line_items": []}
    result = load_handler(HANDLER).post(json=order)
    assert [m["anonymousId"] for m in result.messages] == ["ck-1"]
