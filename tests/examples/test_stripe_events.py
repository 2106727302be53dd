import hashlib
import hmac
import json
import time
from pathlib import Path

import pytest

from segfn import anonymous_id
from segfn.payloads import load_payload

SOURCE = "stripe-events"
HANDLER = Path(__file__).resolve().parents[2] / "examples" / "stripe_events.py"
EVENT_TIME = "2012-01-18T02:24:38.000Z"
PLAN = {
    "collection": "plans",
    "id": "team-$100-1-month_00000000000000",
    "properties": {
        "name": "Team",
        "product_id": "prod_00000000000000",
        "amount": 0.01,
        "currency": "usd",
        "interval": "month",
        "interval_count": 1,
        "trial_period_days": 1,
        "active": True,
    },
}


def calls(result):
    return [{k: v for k, v in m.items() if k not in ("messageId", "context")}
            for m in result.messages]


def test_customer_created(load_handler, payloads):
    result = load_handler(HANDLER).post_payload(payloads / "customer-created.json")
    assert result.ok, result.error
    assert calls(result) == [
        {"type": "identify", "userId": "cus_00000000000000",
         "traits": {"createdAt": "2019-06-25T18:24:14.000Z", "currency": "usd",
                    "delinquent": False},
         "timestamp": EVENT_TIME},
        {"type": "track", "userId": "cus_00000000000000", "event": "Customer Created",
         "properties": {"customer_id": "cus_00000000000000"}, "timestamp": EVENT_TIME},
    ]
    assert result.objects == []


def test_charge_without_customer_is_saved_as_an_object(load_handler, payloads):
    result = load_handler(HANDLER).post_payload(payloads / "charge-succeeded.json")
    assert result.ok, result.error
    assert result.messages == []
    assert list(result.objects) == [{
        "collection": "charges",
        "id": "ch_00000000000000",
        "properties": {"charge_id": "ch_00000000000000", "amount": 8.49, "currency": "usd",
                       "payment_method": "card", "status": "succeeded"},
    }]
    assert "no customer or email" in result.logs[0]


def test_charge_with_a_receipt_email_is_tracked_anonymously(load_handler, payloads):
    stripe = load_handler(HANDLER)
    body = load_payload(payloads / "charge-succeeded.json").body.replace(
        b'"receipt_email": null', b'"receipt_email": "Ada@Example.com"')
    result = stripe.post(body)
    track, = result.tracks
    assert track["event"] == "Charge Succeeded"
    assert track["anonymousId"] == anonymous_id("ada@example.com")
    assert track["properties"]["amount"] == 8.49


def test_subscription_created(load_handler, payloads):
    result = load_handler(HANDLER).post_payload(payloads / "subscription-created.json")
    assert calls(result) == [{
        "type": "track",
        "userId": "cus_00000000000000",
        "event": "Subscription Created",
        "properties": {
            "subscription_id": "sub_00000000000000",
            "status": "canceled",
            "plan_id": "team-$100-1-month_00000000000000",
            "plan_name": "Team",
            "plan_interval": "month",
            "trial_start": "2016-06-24T17:12:38.000Z",
            "trial_end": "2016-06-25T17:12:38.000Z",
            "current_period_end": "2016-06-25T17:12:38.000Z",
        },
        "timestamp": EVENT_TIME,
    }]
    assert list(result.objects) == [PLAN]


def test_trial_will_end(load_handler, payloads):
    result = load_handler(HANDLER).post_payload(payloads / "trial-will-end-soon.json")
    track, = result.tracks
    assert track["event"] == "Trial Ending Soon"
    assert track["userId"] == "cus_00000000000000"
    assert track["properties"]["status"] == "trialing"
    assert track["properties"]["trial_end"] == "2019-06-28T18:19:10.000Z"
    assert list(result.objects) == [PLAN]


def test_invoice_paid_in_a_zero_decimal_currency(load_handler):
    invoice = {"id": "in_1", "customer": "cus_1", "currency": "jpy", "amount_due": 500,
               "amount_paid": 500, "status": "paid", "subscription": "sub_1"}
    result = load_handler(HANDLER).post(json={"type": "invoice.paid", "created": 1700000000,
                                              "data": {"object": invoice}})
    assert calls(result) == [{
        "type": "track",
        "userId": "cus_1",
        "event": "Invoice Paid",
        "properties": {"invoice_id": "in_1", "subscription_id": "sub_1", "amount_due": 500,
                       "amount_paid": 500, "currency": "jpy", "status": "paid"},
        "timestamp": "2023-11-14T22:13:20.000Z",
    }]


def test_every_payload_runs(load_handler, payload):
    result = load_handler(HANDLER).post_payload(payload)
    assert result.ok, result.error


def stripe_signature(body, secret, stamp):
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
    return f"t={stamp},v1={digest.hexdigest()}"


def test_good_signature_is_accepted(load_handler, payloads):
    body = load_payload(payloads / "customer-created.json").body
    stripe = load_handler(HANDLER, settings={"webhookSecret": "whsec_test"})
    header = stripe_signature(body, "whsec_test", int(time.time()))
    result = stripe.post(body, headers={"Stripe-Signature": header})
    assert result.ok, result.error


def test_bad_or_stale_signature_is_rejected(load_handler, payloads):
    body = load_payload(payloads / "customer-created.json").body
    stripe = load_handler(HANDLER, settings={"webhookSecret": "whsec_test"})
    now = int(time.time())
    bad = stripe.post(body, headers={"Stripe-Signature": stripe_signature(body, "x", now)})
    stale = stripe.post(body, headers={
        "Stripe-Signature": stripe_signature(body, "whsec_test", now - 3600)})
    assert bad.error.type == stale.error.type == "MessageRejected"
    assert "does not match" in bad.error.message
    assert "tolerance" in stale.error.message
    assert not bad.messages and not stale.messages


def test_unsupported_event(load_handler):
    result = load_handler(HANDLER).post(json={"type": "payout.paid",
                                              "data": {"object": {"id": "po_1"}}})
    assert result.error.type == "UnsupportedEventType"
    assert "payout.paid" in result.error.message


def test_subscription_without_customer(load_handler):
    result = load_handler(HANDLER).post(json={
        "type": "customer.subscription.created", "data": {"object": {"id": "sub_1"}}})
    assert result.error.type == "MessageRejected"
    assert "data.object.customer is missing" in result.error.message


def test_customer_deleted(load_handler, own_payloads):
    result = load_handler(HANDLER).post_payload(own_payloads / "customer-deleted.json")
    assert result.ok, result.error
    assert calls(result) == [{
        "type": "track", "userId": "cus_00000000000000", "event": "Customer Deleted",
        "properties": {"customer_id": "cus_00000000000000"}, "timestamp": EVENT_TIME}]


def test_customer_updated_in_the_current_api(load_handler, own_payloads):
    result = load_handler(HANDLER).post_payload(own_payloads / "current-api-customer-updated.json")
    assert result.ok, result.error
    identify, track = calls(result)
    assert identify["userId"] == track["userId"] == "cus_QXg1o8vcGmoR32"
    assert identify["traits"] == {"createdAt": "2009-02-13T23:31:30.000Z", "currency": "usd",
                                  "delinquent": False}
    assert track["event"] == "Customer Updated"


@pytest.mark.parametrize("kind", ["customer.discount.created", "customer.source.created",
                                  "customer.tax_id.created"])
def test_other_customer_events_are_not_supported(load_handler, kind):
    result = load_handler(HANDLER).post(json={"type": kind, "data": {"object": {"id": "x"}}})
    assert result.error.type == "UnsupportedEventType"
    assert kind in result.error.message


def test_subscription_of_the_current_api_reads_its_item(load_handler, own_payloads):
    # Since 2025-03-31 the plan and current_period_end are on the subscription's items.
    result = load_handler(HANDLER).post_payload(
        own_payloads / "current-api-subscription-created.json")
    assert result.ok, result.error
    [track] = result.tracks
    assert (track["userId"], track["event"]) == ("cus_QXg1o8vcGmoR32", "Subscription Created")
    assert track["properties"] == {
        "subscription_id": "sub_1Pgc6rB7WZ01zgkWNy0Cn5nw", "status": "active",
        "plan_id": "obj_123", "plan_interval": "month",
        "trial_start": "2009-02-13T23:31:30.000Z", "trial_end": "2009-02-13T23:31:30.000Z",
        "current_period_end": "2000-12-08T15:02:53.000Z"}
    [plan] = result.objects
    assert (plan["collection"], plan["id"]) == ("plans", "obj_123")
    assert plan["properties"]["interval"] == "month"


def test_subscription_item_with_a_price_and_no_plan(load_handler, own_payloads):
    body = json.loads(load_payload(own_payloads / "current-api-subscription-created.json").body)
    del body["data"]["object"]["items"]["data"][0]["plan"]
    result = load_handler(HANDLER).post(json=body)
    assert result.ok, result.error
    assert result.tracks[0]["properties"]["plan_id"] == "price_1PgafmB7WZ01zgkW6dKueIc5"
    assert result.objects == [{"collection": "plans", "id": "price_1PgafmB7WZ01zgkW6dKueIc5",
                               "properties": {"product_id": "prod_QXg1hqf4jFNsqG",
                                              "amount": 20.0, "currency": "usd",
                                              "interval": "month", "interval_count": 1,
                                              "active": True}}]


def test_invoice_of_the_current_api_names_its_subscription(load_handler, own_payloads):
    # Since 2025-03-31 an invoice's subscription is under parent.subscription_details.
    result = load_handler(HANDLER).post_payload(own_payloads / "current-api-invoice-paid.json")
    assert result.ok, result.error
    [track] = result.tracks
    assert (track["userId"], track["event"]) == ("cus_QXg1o8vcGmoR32", "Invoice Paid")
    assert track["properties"] == {"invoice_id": "in_1Pgc6tB7WZ01zgkWu9fdqL6I",
                                   "subscription_id": "subscription", "amount_due": 10.0,
                                   "amount_paid": 0.0, "currency": "usd", "status": "draft",
                                   "attempt_count": 0}


def test_invoice_with_an_expanded_subscription(load_handler):
    invoice = {"id": "in_1", "customer": "cus_1", "currency": "usd", "amount_due": 500,
               "subscription": {"id": "sub_9", "object": "subscription"}}
    result = load_handler(HANDLER).post(json={"type": "invoice.paid",
                                              "data": {"object": invoice}})
    assert result.ok, result.error
    assert result.tracks[0]["properties"]["subscription_id"] == "sub_9"


def test_charge_of_the_current_api(load_handler, own_payloads):
    # No customer, no email: nobody to attribute it to, so only the object is saved.
    result = load_handler(HANDLER).post_payload(own_payloads / "current-api-charge-succeeded.json")
    assert result.ok, result.error
    assert result.messages == []
    assert result.objects == [{
        "collection": "charges", "id": "ch_1PgafuB7WZ01zgkWXYmPNZs8",
        "properties": {"charge_id": "ch_1PgafuB7WZ01zgkWXYmPNZs8", "amount": 1.0,
                       "currency": "usd",
                       "description": "My First Test Charge (created for API docs)",
                       "payment_method": "card", "status": "succeeded"}}]
    assert "no customer or email" in result.logs[0]
