import hashlib
import hmac
import time
from pathlib import Path

from segfn.payloads import load_payload

SOURCE = "paddle"
HANDLER = Path(__file__).resolve().parents[2] / "examples" / "paddle.py"
CUSTOMER = "ctm_01hv6y1jedq4p1n0yqn5ba3ky4"


def calls(result):
    return [{k: v for k, v in m.items() if k not in ("messageId", "context")}
            for m in result.messages]


def test_subscription_canceled(load_handler, own_payloads):
    result = load_handler(HANDLER).post_payload(own_payloads / "subscription-canceled.json")
    assert result.ok, result.error
    assert calls(result) == [{
        "type": "track", "userId": CUSTOMER, "event": "Subscription Canceled",
        "timestamp": "2023-08-21T11:57:47.390Z",
        "properties": {
            "subscription_id": "sub_01hv8x29kz0t586xy6zn1a62ny", "status": "canceled",
            "currency": "USD", "billing_interval": "month", "billing_frequency": 1,
            "started_at": "2024-04-12T10:37:59.556997Z",
            "canceled_at": "2024-04-12T11:24:54.868000Z",
            "products": [
                {"product_id": "pro_01gsz4t5hdjse780zja8vvr7jg", "name": "AeroEdit Pro",
                 "variant": "Monthly (per seat)", "price_id": "pri_01gsz8x8sawmvhz1pv30nge1ke",
                 "price": 30.0, "quantity": 20},
                {"product_id": "pro_01h1vjes1y163xfj1rh1tkfb65", "name": "Analytics addon",
                 "variant": "Monthly (recurring addon)",
                 "price_id": "pri_01h1vjfevh5etwq3rb416a23h2", "price": 100.0, "quantity": 1},
                {"product_id": "pro_01gsz92krfzy3hcx5h5rtgnfwz", "name": "VIP support",
                 "variant": "Monthly (recurring addon)",
                 "price_id": "pri_01gsz95g2zrkagg294kpstx54r", "price": 250.0,
                 "quantity": 1}]},
    }]


def test_customer_and_transaction_notifications(load_handler):
    paddle = load_handler(HANDLER)
    customer = paddle.post(json={"event_type": "customer.created", "data": {
        "id": "ctm_1", "email": "ada@example.com", "name": "Ada", "locale": "en"}})
    assert customer.ok, customer.error
    assert customer.identifies[0]["traits"] == {"email": "ada@example.com", "name": "Ada",
                                                "locale": "en"}
    order = paddle.post(json={"event_type": "transaction.completed", "data": {
        "id": "txn_1", "customer_id": "ctm_1", "currency_code": "JPY",
        "details": {"totals": {"total": "1200", "earnings": "1000", "tax": "200"}},
        "items": [{"quantity": 2, "price": {"id": "pri_1", "product_id": "pro_1",
                                            "unit_price": {"amount": "600"}}}]}})
    assert order.ok, order.error
    assert order.tracks[0]["event"] == "Order Completed"
    assert order.tracks[0]["properties"] == {
        "order_id": "txn_1", "total": 1200.0, "revenue": 1000.0, "tax": 200.0,
        "currency": "JPY",
        "products": [{"product_id": "pro_1", "price_id": "pri_1", "price": 600.0,
                      "quantity": 2}]}


def test_every_payload_runs(load_handler, payload):
    result = load_handler(HANDLER).post_payload(payload)
    assert result.ok, result.error


def signed(body, secret, stamp):
    digest = hmac.new(secret.encode(), f"{stamp}:".encode() + body, hashlib.sha256)
    return {"Paddle-Signature": f"ts={stamp};h1={digest.hexdigest()}"}


def test_signatures_good_wrong_and_stale(load_handler, own_payloads):
    body = load_payload(own_payloads / "subscription-canceled.json").body
    paddle = load_handler(HANDLER, settings={"webhookSecret": "pdl_ntfset_01"})
    now = int(time.time())
    good = paddle.post(body, headers=signed(body, "pdl_ntfset_01", now))
    wrong = paddle.post(body, headers=signed(body, "pdl_ntfset_02", now))
    stale = paddle.post(body, headers=signed(body, "pdl_ntfset_01", now - 60))
    assert good.ok, good.error
    assert [t["event"] for t in good.tracks] == ["Subscription Canceled"]
    assert wrong.error.type == stale.error.type == "MessageRejected"
    assert "Paddle-Signature does not match" in wrong.error.message
    assert "tolerance is 5 s" in stale.error.message
    assert not wrong.messages and not stale.messages


def test_unsupported_and_incomplete_notifications(load_handler):
    paddle = load_handler(HANDLER)
    address = paddle.post(json={"event_type": "address.created", "data": {"id": "add_1"}})
    assert address.error.type == "UnsupportedEventType"
    assert "'address.created'" in address.error.message
    orphan = paddle.post(json={"event_type": "subscription.created", "data": {"id": "sub_1"}})
    assert orphan.error.type == "MessageRejected"
    assert "data.customer_id is missing" in orphan.error.message
