"""examples/pipedrive.py: Pipedrive records become objects, identifies, groups and tracks."""

import base64
import json
from pathlib import Path

import pytest

SOURCE = "pipedrive"  # conftest.py: the payloads fixture is payloads/pipedrive/
HANDLER = Path(__file__).resolve().parents[2] / "examples" / "pipedrive.py"
DEAL = {
    "deal_id": 1,
    "title": "Test deal",
    "value": 1000000,
    "currency": "USD",
    "status": "open",
    "pipeline_id": 1,
    "stage_id": 2,
    "organization_id": 1,
    "expected_close_date": "2019-06-28",
}
CREDENTIALS = {"basicAuthUser": "segment", "basicAuthPassword": "s3cret"}


def body_of(path):
    return json.loads(path.read_text())["payload"]["body"]


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_deal_added(load_handler, payloads):
    result = load_handler(HANDLER).post_payload(payloads / "dealAdded.json")
    assert result.ok, result.error
    [track] = result.messages
    assert track["type"] == "track"
    assert track["event"] == "Deal Created"
    assert track["userId"] == "1"
    assert track["properties"] == DEAL
    assert track["timestamp"] == "2019-06-26T14:29:52.000Z"
    [deal] = result.objects
    assert (deal["collection"], deal["id"]) == ("deals", "1")
    assert deal["properties"]["title"] == "Test deal"
    assert deal["properties"]["value"] == 1000000


def test_deal_updated(load_handler, payloads):
    result = load_handler(HANDLER).post_payload(payloads / "dealUpdated.json")
    assert result.ok, result.error
    [track] = result.messages
    assert track["event"] == "Deal Updated"
    assert track["userId"] == "1"
    assert track["properties"] == DEAL
    [deal] = result.objects
    assert (deal["collection"], deal["id"]) == ("deals", "1")
    assert deal["properties"]["update_time"] == "2019-06-26 14:31:14"


def test_deal_deleted_is_read_from_previous(load_handler, payloads):
    result = load_handler(HANDLER).post_payload(payloads / "dealDeleted.json")
    assert result.ok, result.error
    [track] = result.messages
    assert track["event"] == "Deal Deleted"
    assert track["userId"] == "1"
    assert track["properties"] == DEAL
    assert result.objects == [{"collection": "deals", "id": "1",
                               "properties": {"deleted": True}}]


@pytest.mark.parametrize("status, event", [("won", "Deal Won"), ("lost", "Deal Lost")])
def test_deal_closed(load_handler, payloads, status, event):
    body = body_of(payloads / "dealUpdated.json")
    body["current"]["status"] = status
    result = load_handler(HANDLER).post(json=body)
    assert result.ok, result.error
    assert [t["event"] for t in result.tracks] == [event]
    assert result.tracks[0]["properties"]["status"] == status


def test_note_added(load_handler, payloads):
    result = load_handler(HANDLER).post_payload(payloads / "noteAdded.json")
    assert result.ok, result.error
    [track] = result.messages
    assert track["event"] == "Note Created"
    assert track["userId"] == "1"
    assert track["properties"] == {"note_id": 1, "content": "Testing out the notes functionality",
                                   "deal_id": 1, "organization_id": 1}
    [note] = result.objects
    assert (note["collection"], note["id"]) == ("notes", "1")
    assert note["properties"]["deal"] == {"title": "Test deal"}


@pytest.mark.parametrize("name", ["organizationAdded.json", "organizationUpdated.json"])
def test_organization_is_an_object(load_handler, payloads, name):
    result = load_handler(HANDLER).post_payload(payloads / name)
    assert result.ok, result.error
    assert result.messages == []
    [organization] = result.objects
    assert (organization["collection"], organization["id"]) == ("organizations", "1")
    assert organization["properties"]["name"] == "Test"


@pytest.mark.parametrize("name, timestamp", [
    ("personAdded.json", "2019-06-26T14:29:52.000Z"),
    ("personUpdated.json", "2019-06-26T14:31:14.000Z"),
])
def test_person_is_identified_and_grouped(load_handler, payloads, name, timestamp):
    result = load_handler(HANDLER).post_payload(payloads / name)
    assert result.ok, result.error
    identify, group = result.messages
    assert identify["type"] == "identify"
    assert identify["userId"] == "1"
    # Pipedrive's email and phone are lists of {"value", "primary"}; these are empty.
    assert identify["traits"] == {"name": "Test", "firstName": "Test",
                                  "company": {"id": "1", "name": "Test"},
                                  "createdAt": "2019-06-26T14:29:52.000Z"}
    assert identify["timestamp"] == timestamp
    assert group["type"] == "group"
    assert (group["userId"], group["groupId"]) == ("1", "1")
    assert group["traits"] == {"name": "Test"}
    [person] = result.objects
    assert (person["collection"], person["id"]) == ("persons", "1")


def test_person_email_is_the_primary_address(load_handler, payloads):
    body = body_of(payloads / "personAdded.json")
    body["current"]["email"] = [{"primary": False, "value": "old@example.com"},
                                {"primary": True, "value": "test@example.com"}]
    result = load_handler(HANDLER).post(json=body)
    assert result.ok, result.error
    assert result.identifies[0]["traits"]["email"] == "test@example.com"


def test_deal_without_person_is_only_saved(load_handler, payloads):
    body = body_of(payloads / "dealAdded.json")
    body["current"]["person_id"] = None
    result = load_handler(HANDLER).post(json=body)
    assert result.ok, result.error
    assert result.messages == []
    assert [o["collection"] for o in result.objects] == ["deals"]
    assert result.logs == ["deal 1 has no person: saved, no event"]


def test_good_credentials_are_accepted(load_handler, payloads):
    raw = (payloads / "dealAdded.json").read_text()
    body = json.dumps(json.loads(raw)["payload"]["body"]).encode()
    result = load_handler(HANDLER, settings=CREDENTIALS).post(
        body=body, headers={"Authorization": basic("segment", "s3cret")})
    assert result.ok, result.error
    assert [t["event"] for t in result.tracks] == ["Deal Created"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": basic("segment", "guess")}])
def test_bad_credentials_are_rejected(load_handler, payloads, headers):
    result = load_handler(HANDLER, settings=CREDENTIALS).post_payload(
        payloads / "dealAdded.json", headers=headers)
    assert result.error.type == "MessageRejected"
    assert "Authorization" in result.error.message
    assert result.objects == []


def test_unsupported_object(load_handler, payloads):
    body = body_of(payloads / "dealAdded.json")
    body["meta"]["object"] = "activity"
    result = load_handler(HANDLER).post(json=body)
    assert result.error.type == "UnsupportedEventType"
    assert "added.activity" in result.error.message


def test_delivery_without_meta_object_is_rejected(load_handler, payloads):
    body = body_of(payloads / "dealAdded.json")
    del body["meta"]["object"]
    result = load_handler(HANDLER).post(json=body)
    assert result.error.type == "MessageRejected"
    assert "meta.object" in result.error.message


@pytest.mark.parametrize("name, events", [
    ("dealAdded.json", ["Deal Created"]),
    ("dealDeleted.json", ["Deal Deleted"]),
    ("dealUpdated.json", ["Deal Updated"]),
    ("noteAdded.json", ["Note Created"]),
    ("organizationAdded.json", []),
    ("organizationUpdated.json", []),
    ("personAdded.json", []),
    ("personUpdated.json", []),
])
def test_recorded_deliveries(load_handler, payloads, name, events):
    result = load_handler(HANDLER).post_payload(payloads / name)
    assert result.ok, result.error
    assert [m["event"] for m in result.messages if m["type"] == "track"] == events
    assert len(result.objects) == 1
