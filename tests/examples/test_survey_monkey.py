"""examples/survey_monkey.py: response webhooks become tracks and survey_responses objects."""

import base64
import hashlib
import hmac
import json
from pathlib import Path

import pytest

SOURCE = "survey-monkey"  # conftest.py: the payloads fixture is payloads/survey-monkey/
HANDLER = Path(__file__).resolve().parents[2] / "examples" / "survey_monkey.py"
SETTINGS = {"clientId": "client-123", "clientSecret": "s3cret"}
PROPERTIES = {"survey_id": "181192877", "collector_id": "239253167",
              "response_id": "10822661769"}


def body_of(path):
    return json.loads(path.read_text())["payload"]["body"]


def signature(raw, key="client-123&s3cret"):
    return base64.b64encode(hmac.new(key.encode(), raw, hashlib.sha1).digest()).decode()


@pytest.mark.parametrize("name", ["responseCompleted.json", "responseCompleted-old-format.json"])
def test_response_completed(load_handler, payloads, name):
    result = load_handler(HANDLER).post_payload(payloads / name)
    assert result.ok, result.error
    [track] = result.messages
    assert track["type"] == "track"
    assert track["event"] == "Survey Response Submitted"
    assert track["anonymousId"] == "10822661769"
    assert "userId" not in track  # resources.user_id is the survey's owner, not the respondent
    assert track["properties"] == PROPERTIES  # recipient "0": not an email invitation
    assert track["timestamp"] == "2019-06-25T22:21:35.296Z"
    assert track["messageId"] == "10015473787"
    assert result.objects == [{
        "collection": "survey_responses",
        "id": "10822661769",
        "properties": {**PROPERTIES, "status": "completed",
                       "updated_at": "2019-06-25T22:21:35.296Z"},
    }]


@pytest.mark.parametrize("kind, event, status", [
    ("response_created", "Survey Response Started", "partial"),
    ("response_updated", "Survey Response Updated", "partial"),
    ("response_disqualified", "Survey Response Disqualified", "disqualified"),
])
def test_other_response_events(load_handler, payloads, kind, event, status):
    body = body_of(payloads / "responseCompleted.json")
    body["event_type"] = kind
    body["resources"]["recipient_id"] = "55501"
    result = load_handler(HANDLER).post(json=body)
    assert result.ok, result.error
    assert [t["event"] for t in result.tracks] == [event]
    assert result.tracks[0]["properties"]["recipient_id"] == "55501"
    assert result.objects[0]["properties"]["status"] == status


def test_good_signature_is_accepted(load_handler, payloads):
    raw = json.dumps(body_of(payloads / "responseCompleted.json")).encode()
    result = load_handler(HANDLER, settings=SETTINGS).post(
        body=raw, headers={"Sm-Apikey": "client-123", "Sm-Signature": signature(raw)})
    assert result.ok, result.error
    assert [t["event"] for t in result.tracks] == ["Survey Response Submitted"]


def test_bad_signature_is_rejected(load_handler, payloads):
    raw = json.dumps(body_of(payloads / "responseCompleted.json")).encode()
    forged = signature(raw, key="client-123&guess")
    result = load_handler(HANDLER, settings=SETTINGS).post(
        body=raw, headers={"Sm-Signature": forged})
    assert result.error.type == "MessageRejected"
    assert "Sm-Signature" in result.error.message
    assert result.objects == []


def test_unsigned_delivery_is_rejected_when_a_secret_is_set(load_handler, payloads):
    result = load_handler(HANDLER, settings=SETTINGS).post_payload(
        payloads / "responseCompleted.json")
    assert result.error.type == "MessageRejected"
    assert "missing Sm-Signature" in result.error.message


def test_unsupported_event(load_handler, payloads):
    body = body_of(payloads / "responseCompleted.json")
    body["event_type"] = "collector_created"
    result = load_handler(HANDLER).post(json=body)
    assert result.error.type == "UnsupportedEventType"
    assert "collector_created" in result.error.message


def test_survey_missing_from_resources_comes_from_the_filter(load_handler, payloads):
    body = body_of(payloads / "responseCompleted.json")
    del body["resources"]["survey_id"]
    result = load_handler(HANDLER).post(json=body)
    assert result.ok, result.error
    assert result.tracks[0]["properties"]["survey_id"] == "181192877"


def test_delivery_without_a_response_is_rejected(load_handler, payloads):
    body = body_of(payloads / "responseCompleted.json")
    del body["resources"]
    del body["object_id"]
    result = load_handler(HANDLER).post(json=body)
    assert result.error.type == "MessageRejected"
    assert "resources.respondent_id and object_id are missing" in result.error.message
    assert result.objects == []


@pytest.mark.parametrize("name, events", [
    ("responseCompleted-old-format.json", ["Survey Response Submitted"]),
    ("responseCompleted.json", ["Survey Response Submitted"]),
])
def test_recorded_deliveries(load_handler, payloads, name, events):
    result = load_handler(HANDLER).post_payload(payloads / name)
    assert result.ok, result.error
    assert [m["event"] for m in result.messages] == events
    assert [o["collection"] for o in result.objects] == ["survey_responses"]


# Older callbacks have no resources block: the response is object_id, the survey or
# collector the filter.
def test_older_callback_without_resources(load_handler, own_payloads):
    result = load_handler(HANDLER).post_payload(
        own_payloads / "response-completed-without-resources.json")
    assert result.ok, result.error
    [track] = result.messages
    assert (track["event"], track["anonymousId"]) == ("Survey Response Submitted",
                                                      "10822661769")
    assert track["properties"] == {"survey_id": "181192877", "response_id": "10822661769"}
    assert track["messageId"] == "10015473787"
    assert result.objects[0]["properties"]["status"] == "completed"


def test_older_collector_callback_without_resources(load_handler, own_payloads):
    result = load_handler(HANDLER).post_payload(
        own_payloads / "response-created-collector-without-resources.json")
    assert result.ok, result.error
    [track] = result.messages
    assert track["event"] == "Survey Response Started"
    assert track["properties"] == {"collector_id": "239253167", "response_id": "10822661769"}


@pytest.mark.parametrize("kind", ["survey_created", "collector_updated", "response_deleted",
                                  "response_overquota", "app_installed"])
def test_unclaimed_event_types_are_not_supported(load_handler, own_payloads, kind):
    body = body_of(own_payloads / "response-completed-without-resources.json")
    body["event_type"] = kind
    result = load_handler(HANDLER).post(json=body)
    assert result.error.type == "UnsupportedEventType"
    assert kind in result.error.message
