"""examples/adyen.py: Adyen notifications become e-commerce track calls."""

import base64
import hashlib
import hmac
import json
from pathlib import Path

import pytest

from segfn import anonymous_id

SOURCE = "adyen"  # conftest.py: the payloads fixture is payloads/adyen/
HANDLER = Path(__file__).resolve().parents[2] / "examples" / "adyen.py"
HMAC_KEY = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"


def body_of(path):
    return json.loads(path.read_text())["payload"]["body"]


def sign(item, key=HMAC_KEY):
    """Adyen's item signature, written out independently of the handler."""
    signed = ":".join([
        item["pspReference"], item.get("originalReference", ""), item["merchantAccountCode"],
        item["merchantReference"], str(item["amount"]["value"]), item["amount"]["currency"],
        item["eventCode"], item["success"],
    ])
    digest = hmac.new(bytes.fromhex(key), signed.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signed_body(path):
    body = body_of(path)
    item = body["notificationItems"][0]["NotificationRequestItem"]
    item.setdefault("additionalData", {})["hmacSignature"] = sign(item)
    return body


def test_refused_authorisation_is_a_failed_payment(load_handler, payloads):
    result = load_handler(HANDLER).post_payload(payloads / "authorisation.json")
    assert result.ok, result.error
    assert result.objects == []
    [track] = result.messages
    assert track["type"] == "track"
    assert track["event"] == "Payment Failed"
    assert track["anonymousId"] == "8313842560770001"
    assert "userId" not in track
    assert track["properties"] == {
        "order_id": "8313842560770001",
        "psp_reference": "test_AUTHORISATION_3",
        "total": 101.5,
        "currency": "EUR",
        "payment_method": "visa",
        "merchant_account": "Diggory01COM",
        "success": False,
        "reason": "REFUSED",
        "card_summary": "7777",
        "live": False,
    }
    assert track["context"]["ip"] == "127.0.0.1"
    assert track["timestamp"] == "2019-06-27T17:10:58.000Z"
    assert track["messageId"] == "adyen-test_AUTHORISATION_3-AUTHORISATION"


def test_order_opened(load_handler, payloads):
    result = load_handler(HANDLER).post_payload(payloads / "orderOpened.json")
    assert result.ok, result.error
    [track] = result.messages
    assert track["event"] == "Order Opened"
    assert track["anonymousId"] == "testMerchantRef1"
    assert track["properties"] == {
        "order_id": "testMerchantRef1",
        "psp_reference": "test_ORDER_OPENED",
        "total": 10.1,
        "currency": "EUR",
        "merchant_account": "Diggory01COM",
        "success": True,
        "live": False,
    }


def test_refund_with_data(load_handler, payloads):
    result = load_handler(HANDLER).post_payload(payloads / "refundWithData.json")
    assert result.ok, result.error
    [track] = result.messages
    assert track["event"] == "Order Refunded"
    assert track["anonymousId"] == "testMerchantRef1"
    assert track["properties"]["original_reference"] == "pspReference of the REFUND_WITH_DATA"
    assert track["properties"]["total"] == 0
    assert track["messageId"] == "adyen-test_REFUND_WITH_DATA-REFUND_WITH_DATA"


def test_successful_authorisation_of_a_known_shopper_completes_the_order(load_handler, payloads):
    body = body_of(payloads / "authorisation.json")
    item = body["notificationItems"][0]["NotificationRequestItem"]
    item.update(success="true", reason="", amount={"currency": "JPY", "value": 1500})
    item["additionalData"]["shopperReference"] = "user-42"
    result = load_handler(HANDLER).post(json=body)
    assert result.ok, result.error
    [track] = result.tracks
    assert track["event"] == "Order Completed"
    assert track["userId"] == "user-42"
    assert "anonymousId" not in track
    assert track["properties"]["total"] == 1500  # yen have no minor unit
    assert track["properties"]["currency"] == "JPY"


def test_shopper_known_only_by_email_gets_an_anonymous_id(load_handler, payloads):
    body = body_of(payloads / "orderOpened.json")
    item = body["notificationItems"][0]["NotificationRequestItem"]
    item["additionalData"] = {"shopperEmail": " Shopper@Example.com"}
    result = load_handler(HANDLER).post(json=body)
    assert result.ok, result.error
    assert result.tracks[0]["anonymousId"] == anonymous_id("shopper@example.com")


def test_good_signature_is_accepted(load_handler, payloads):
    raw = json.dumps(signed_body(payloads / "refundWithData.json")).encode()
    result = load_handler(HANDLER, settings={"hmacKey": HMAC_KEY}).post(body=raw)
    assert result.ok, result.error
    assert [t["event"] for t in result.tracks] == ["Order Refunded"]


def test_tampered_notification_is_rejected(load_handler, payloads):
    body = signed_body(payloads / "refundWithData.json")
    body["notificationItems"][0]["NotificationRequestItem"]["amount"]["value"] = 100000
    result = load_handler(HANDLER, settings={"hmacKey": HMAC_KEY}).post(
        body=json.dumps(body).encode())
    assert result.error.type == "MessageRejected"
    assert "hmacSignature does not match" in result.error.message
    assert result.messages == []


def test_signature_from_another_key_is_rejected(load_handler, payloads):
    raw = json.dumps(signed_body(payloads / "orderOpened.json")).encode()
    result = load_handler(HANDLER, settings={"hmacKey": "00" * 32}).post(body=raw)
    assert result.error.type == "MessageRejected"


def test_unsigned_notification_is_rejected_when_a_key_is_set(load_handler, payloads):
    result = load_handler(HANDLER, settings={"hmacKey": HMAC_KEY}).post_payload(
        payloads / "orderOpened.json")
    assert result.error.type == "MessageRejected"
    assert "additionalData.hmacSignature is missing" in result.error.message


def test_unsupported_event_code(load_handler, payloads):
    body = body_of(payloads / "orderOpened.json")
    body["notificationItems"][0]["NotificationRequestItem"]["eventCode"] = "REPORT_AVAILABLE"
    result = load_handler(HANDLER).post(json=body)
    assert result.error.type == "UnsupportedEventType"
    assert "REPORT_AVAILABLE" in result.error.message


def test_item_without_psp_reference_is_rejected(load_handler, payloads):
    body = body_of(payloads / "orderOpened.json")
    del body["notificationItems"][0]["NotificationRequestItem"]["pspReference"]
    result = load_handler(HANDLER).post(json=body)
    assert result.error.type == "MessageRejected"
    assert "pspReference" in result.error.message


def test_delivery_without_items_is_rejected(load_handler):
    result = load_handler(HANDLER).post(json={"live": "false"})
    assert result.error.type == "MessageRejected"
    assert "notificationItems" in result.error.message


@pytest.mark.parametrize("name, events", [
    ("authorisation.json", ["Payment Failed"]),
    ("orderOpened.json", ["Order Opened"]),
    ("refundWithData.json", ["Order Refunded"]),
])
def test_recorded_deliveries(load_handler, payloads, name, events):
    result = load_handler(HANDLER).post_payload(payloads / name)
    assert result.ok, result.error
    assert [m["event"] for m in result.messages] == events


# Notifications from Adyen's own library tests, in tests/examples/payloads/adyen.
def test_adyen_authorisation(load_handler, own_payloads):
    result = load_handler(HANDLER).post_payload(own_payloads / "authorisation-true.json")
    assert result.ok, result.error
    [track] = result.messages
    assert (track["event"], track["anonymousId"]) == ("Order Completed", "8313842560770001")
    assert track["properties"] == {
        "order_id": "8313842560770001", "psp_reference": "123456789", "total": 101.0,
        "currency": "EUR", "payment_method": "visa", "merchant_account": "MagentoMerchantTest2",
        "success": True, "reason": "1234:7777:12/2012", "card_summary": "7777", "live": False}
    assert track["timestamp"] == "2017-01-19T15:42:03.000Z"
    assert track["messageId"] == "adyen-123456789-AUTHORISATION"


def test_adyen_failed_capture(load_handler, own_payloads):
    result = load_handler(HANDLER).post_payload(own_payloads / "capture-false.json")
    assert result.ok, result.error
    [track] = result.messages
    assert (track["event"], track["anonymousId"]) == ("Payment Capture Failed", "00000001")
    assert track["properties"]["total"] == 236.23
    assert track["properties"]["reason"] == "Insufficient balance on payment"
    assert track["properties"]["original_reference"] == "7914853620991813"


def test_adyen_refund(load_handler, own_payloads):
    result = load_handler(HANDLER).post_payload(own_payloads / "refund-true.json")
    assert result.ok, result.error
    [track] = result.messages
    assert track["event"] == "Order Refunded"
    assert track["anonymousId"] == "payment-2017-1-17-11-refund"
    assert track["properties"]["total"] == 15.0


def test_refund_without_merchant_reference_joins_its_payment(load_handler, own_payloads):
    result = load_handler(HANDLER).post_payload(
        own_payloads / "refund-true-no-merchant-reference.json")
    assert result.ok, result.error
    [track] = result.messages
    assert (track["event"], track["anonymousId"]) == ("Order Refunded", "ORIGINAL_PSP")
    assert "order_id" not in track["properties"]


def test_payment_without_any_reference_is_its_psp_reference(load_handler, own_payloads):
    body = body_of(own_payloads / "authorisation-true.json")
    del body["notificationItems"][0]["NotificationRequestItem"]["merchantReference"]
    result = load_handler(HANDLER).post(json=body)
    assert result.ok, result.error
    assert result.tracks[0]["anonymousId"] == "123456789"


def test_chargeback_is_not_supported(load_handler, own_payloads):
    result = load_handler(HANDLER).post_payload(own_payloads / "chargeback.json")
    assert result.error.type == "UnsupportedEventType"
    assert "CHARGEBACK" in result.error.message
    assert result.messages == []


def test_unsupported_item_beside_handled_ones_is_skipped(load_handler, own_payloads):
    body = body_of(own_payloads / "refund-true.json")
    body["notificationItems"] += body_of(own_payloads / "chargeback.json")["notificationItems"]
    result = load_handler(HANDLER).post(json=body)
    assert result.ok, result.error
    assert [t["event"] for t in result.tracks] == ["Order Refunded"]
    assert result.logs == ["skipped CHARGEBACK 9915555555555555: not supported"]
