import base64
import hashlib
import hmac
import json
from pathlib import Path

from segfn import anonymous_id
from segfn.payloads import load_payload

SOURCE = "woocommerce"
HANDLER = Path(__file__).resolve().parents[2] / "examples" / "woocommerce.py"
GUEST = {"anonymousId": anonymous_id("john.doe@example.com")}
TOPIC = {"X-WC-Webhook-Topic": "order.updated"}


def calls(result):
    return [{k: v for k, v in m.items() if k not in ("messageId", "context")}
            for m in result.messages]


def test_a_guest_order_created(load_handler, own_payloads):
    result = load_handler(HANDLER).post_payload(own_payloads / "order-created.json")
    assert result.ok, result.error
    assert calls(result) == [
        {"type": "identify", **GUEST, "timestamp": "2017-03-22T19:28:08.000Z", "traits": {
            "email": "john.doe@example.com", "firstName": "John", "lastName": "Doe",
            "phone": "(555) 555-5555",
            "address": {"street": "969 Market", "city": "San Francisco", "state": "CA",
                        "postalCode": "94103", "country": "US"}}},
        {"type": "track", **GUEST, "event": "Order Completed",
         "timestamp": "2017-03-22T19:28:08.000Z", "properties": {
             "order_id": "727", "order_number": "727", "status": "processing",
             "total": 29.35, "tax": 1.35, "shipping": 10.0, "discount": 0.0,
             "currency": "USD", "payment_method": "bacs",
             "products": [
                 {"product_id": "93", "name": "Woo Single #1", "price": 3.0, "quantity": 2},
                 {"product_id": "22", "variant": "23", "sku": "Bar3",
                  "name": "Ship Your Idea &ndash; Color: Black, Size: M Test",
                  "price": 12.0, "quantity": 1}]}},
    ]


def test_status_names_the_event_and_a_customer_is_the_user(load_handler, own_payloads):
    order = json.loads(load_payload(own_payloads / "order-created.json").body)
    woo = load_handler(HANDLER)
    refunded = woo.post(json={**order, "status": "refunded", "customer_id": 5},
                        headers=TOPIC)
    on_hold = woo.post(json={**order, "status": "on-hold"}, headers=TOPIC)
    deleted = woo.post(json={"id": 727, "customer_id": 5},
                       headers={"X-WC-Webhook-Topic": "order.deleted"})
    assert [m["userId"] for m in refunded.messages] == ["5", "5"]
    assert refunded.tracks[0]["event"] == "Order Refunded"
    assert on_hold.tracks[0]["event"] == "Order Updated"
    assert [(m["type"], m["userId"], m["event"], m["properties"]) for m in deleted.messages] \
        == [("track", "5", "Order Deleted", {"order_id": "727"})]


def test_the_ping_is_acknowledged(load_handler, own_payloads):
    result = load_handler(HANDLER, settings={"webhookSecret": "wc_secret"}).post_payload(
        own_payloads / "ping.json")
    assert result.ok, result.error
    assert result.messages == []
    assert list(result.logs) == ["ping from webhook 12"]


def test_every_payload_runs(load_handler, payload):
    result = load_handler(HANDLER).post_payload(payload)
    assert result.ok, result.error


def signed(body, secret):
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return {"X-WC-Webhook-Topic": "order.created",
            "X-WC-Webhook-Signature": base64.b64encode(digest).decode()}


def test_signatures(load_handler, own_payloads):
    body = load_payload(own_payloads / "order-created.json").body
    woo = load_handler(HANDLER, settings={"webhookSecret": "wc_secret"})
    good = woo.post(body, headers=signed(body, "wc_secret"))
    wrong = woo.post(body, headers=signed(body, "other"))
    assert good.ok, good.error
    assert wrong.error.type == "MessageRejected"
    assert "X-WC-Webhook-Signature does not match" in wrong.error.message
    assert not wrong.messages


def test_unsupported_topic_and_anonymous_order(load_handler):
    woo = load_handler(HANDLER)
    product = woo.post(json={"id": 1}, headers={"X-WC-Webhook-Topic": "product.created"})
    assert product.error.type == "UnsupportedEventType"
    assert "product.created" in product.error.message
    nobody = woo.post(json={"id": 1, "customer_id": 0, "line_items": []}, headers=TOPIC)
    assert nobody.error.type == "MessageRejected"
    assert "customer_id and billing.email are both missing" in nobody.error.message
