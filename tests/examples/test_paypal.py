import json
from pathlib import Path

from segfn import anonymous_id
from segfn.payloads import load_payload

SOURCE = "paypal"
HANDLER = Path(__file__).resolve().parents[2] / "examples" / "paypal.py"
FAST_SPEED_PLAN = {
    "collection": "plans",
    "id": "P-7LT50814996943336LSNDODY",
    "properties": {"name": "Fast Speed Plan", "description": "test web new",
                   "status": "CREATED", "created_at": "2016-04-28T11:21:31.151Z",
                   "updated_at": "2016-04-28T11:21:31.151Z"},
}


def calls(result):
    return [{k: v for k, v in m.items() if k not in ("messageId", "context", "timestamp")}
            for m in result.messages]


def test_checkout_order_completed(load_handler, payloads):
    result = load_handler(HANDLER).post_payload(payloads / "checkoutOrderCompleted.json")
    assert result.ok, result.error
    assert calls(result) == [
        {"type": "identify", "userId": "QYR5Z8XDVJNXQ",
         "traits": {"email": "buyer@example.com", "firstName": "John", "lastName": "Doe"}},
        {"type": "track", "userId": "QYR5Z8XDVJNXQ", "event": "Order Completed",
         "properties": {"order_id": "5O190127TN364715T", "total": 100.0, "revenue": 100.0,
                        "currency": "USD", "status": "COMPLETED"}},
    ]
    assert result.tracks[0]["timestamp"] == "2018-04-01T21:20:49Z"
    assert list(result.objects) == [{
        "collection": "orders",
        "id": "5O190127TN364715T",
        "properties": {"total": 100.0, "currency": "USD", "status": "COMPLETED",
                       "payer_id": "QYR5Z8XDVJNXQ", "created_at": "2018-04-01T21:18:49Z",
                       "updated_at": "2018-04-01T21:20:49Z"},
    }]


def test_billing_plan_activated(load_handler, payloads):
    result = load_handler(HANDLER).post_payload(payloads / "billingPlanActivated.json")
    assert result.messages == []
    assert list(result.objects) == [{
        "collection": "plans",
        "id": "P-7GL4271244454362WXNWU5NQ",
        "properties": {"name": "Zoho Marketing Campaign  Plan",
                       "description": "Zoho Marketing Campaign Plan", "status": "ACTIVE",
                       "product_id": "PROD-XXCD1234QWER65782",
                       "created_at": "2018-12-10T21:20:49Z",
                       "updated_at": "2018-12-10T21:20:49Z"},
    }]


def test_billing_plan_created(load_handler, payloads):
    # billingPlanCompleted.json is, despite its name, another BILLING.PLAN.CREATED.
    for name in ("billingPlanCreated.json", "billingPlanCompleted.json"):
        result = load_handler(HANDLER).post_payload(payloads / name)
        assert result.messages == []
        assert list(result.objects) == [FAST_SPEED_PLAN]


def test_payment_captures(load_handler, payloads):
    paypal = load_handler(HANDLER)
    completed = paypal.post_payload(payloads / "paymentCaptureCompleted.json")
    denied = paypal.post_payload(payloads / "paymentCaptureDenied.json")
    assert completed.messages == denied.messages == []
    assert list(completed.objects) == [{
        "collection": "payments",
        "id": "27M47624FP291604U",
        "properties": {"amount": 2.51, "currency": "USD", "status": "COMPLETED",
                       "final_capture": True, "paypal_fee": 0.37, "net_amount": 2.14,
                       "created_at": "2019-02-14T21:49:58Z",
                       "updated_at": "2019-02-14T21:49:58Z"},
    }]
    assert list(denied.objects) == [{
        "collection": "payments",
        "id": "7NW873794T343360M",
        "properties": {"amount": 2.51, "currency": "AUD", "status": "DECLINED",
                       "final_capture": True, "net_amount": 2.51,
                       "created_at": "2019-02-14T22:18:14Z",
                       "updated_at": "2019-02-14T22:20:01Z"},
    }]


def test_payment_order_created(load_handler, payloads):
    result = load_handler(HANDLER).post_payload(payloads / "paymentOrderCreated.json")
    assert result.messages == []
    assert list(result.objects) == [{
        "collection": "orders",
        "id": "O-7K226695UU6131610",
        "properties": {"total": 4.54, "currency": "USD", "status": "completed",
                       "parent_payment": "PAY-8U555528BH195130VLCRUVPA",
                       "created_at": "2017-02-14T18:28:16Z",
                       "updated_at": "2017-02-14T18:28:37Z"},
    }]


def test_every_payload_runs(load_handler, payload):
    result = load_handler(HANDLER).post_payload(payload)
    assert result.ok, result.error


def test_unsupported_event(load_handler):
    result = load_handler(HANDLER).post(json={"event_type": "CUSTOMER.DISPUTE.CREATED",
                                              "resource": {"id": "PP-D-1"}})
    assert result.error.type == "UnsupportedEventType"
    assert "CUSTOMER.DISPUTE.CREATED" in result.error.message


def test_missing_fields(load_handler):
    paypal = load_handler(HANDLER)
    no_resource = paypal.post(json={"event_type": "PAYMENT.CAPTURE.COMPLETED"})
    assert no_resource.error.type == "MessageRejected"
    assert "resource.id is missing" in no_resource.error.message


def test_order_naming_no_payer_is_only_saved(load_handler):
    result = load_handler(HANDLER).post(json={"event_type": "CHECKOUT.ORDER.COMPLETED",
                                              "resource": {"id": "5O1", "status": "COMPLETED"}})
    assert result.ok, result.error
    assert result.messages == []
    assert result.objects == [{"collection": "orders", "id": "5O1",
                               "properties": {"status": "COMPLETED"}}]
    assert result.logs == ["order 5O1 names no payer: saved, no event"]


def test_orders_v2_with_payment_source_and_no_gross_amount(load_handler, own_payloads):
    result = load_handler(HANDLER).post_payload(
        own_payloads / "checkout-order-completed-payment-source.json")
    assert result.ok, result.error
    assert calls(result) == [
        {"type": "identify", "userId": "QYR5Z8XDVJNXQ",
         "traits": {"email": "buyer@example.com", "firstName": "John", "lastName": "Doe"}},
        {"type": "track", "userId": "QYR5Z8XDVJNXQ", "event": "Order Completed",
         "properties": {"order_id": "5O190127TN364715T", "total": 100.0, "revenue": 100.0,
                        "currency": "USD", "status": "COMPLETED"}},
    ]


def test_payer_known_only_by_email_is_anonymous(load_handler, own_payloads):
    body = json.loads(load_payload(
        own_payloads / "checkout-order-completed-payment-source.json").body)
    del body["resource"]["payment_source"]["paypal"]["account_id"]
    result = load_handler(HANDLER).post(json=body)
    assert result.ok, result.error
    assert [m.get("anonymousId") for m in result.messages] == [
        anonymous_id("buyer@example.com")] * 2


def test_units_in_several_currencies_have_no_one_total(load_handler, payloads):
    body = json.loads(load_payload(payloads / "checkoutOrderCompleted.json").body)
    order = body["resource"]
    del order["gross_amount"]
    order["purchase_units"].append({"amount": {"currency_code": "EUR", "value": "5.00"}})
    result = load_handler(HANDLER).post(json=body)
    assert result.ok, result.error
    assert "total" not in result.tracks[0]["properties"]
