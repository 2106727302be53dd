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


# Webhooks v2: the deliveries of Pipedrive's migration guide, in tests/examples/payloads/.
V2_DEAL = {"deal_id": 8, "title": "Sample Org deal", "value": 100, "currency": "EUR",
           "status": "open", "pipeline_id": 1, "stage_id": 2, "organization_id": 1}


def test_v2_deal_created(load_handler, own_payloads):
    result = load_handler(HANDLER).post_payload(own_payloads / "v2-create-deal.json")
    assert result.ok, result.error
    [track] = result.messages
    assert (track["event"], track["userId"]) == ("Deal Created", "8")
    assert track["properties"] == V2_DEAL
    assert track["timestamp"] == "2022-11-24T13:18:56.089Z"
    [deal] = result.objects
    assert (deal["collection"], deal["id"]) == ("deals", "8")
    assert deal["properties"]["origin"] == "ManuallyCreated"


def test_v2_deal_changed(load_handler, own_payloads):
    result = load_handler(HANDLER).post_payload(own_payloads / "v2-deal-change.json")
    assert result.ok, result.error
    [track] = result.messages
    assert (track["event"], track["userId"]) == ("Deal Updated", "3")
    assert track["properties"] == {"deal_id": 1, "title": "test deal", "value": 2,
                                   "currency": "USD", "status": "open", "pipeline_id": 1,
                                   "stage_id": 1, "organization_id": 2}
    assert track["timestamp"] == "2024-09-27T14:25:28.000Z"
    assert [(o["collection"], o["id"]) for o in result.objects] == [("deals", "1")]


def test_v2_deal_deleted_is_read_from_previous(load_handler, own_payloads):
    result = load_handler(HANDLER).post_payload(own_payloads / "v2-delete-deal.json")
    assert result.ok, result.error
    [track] = result.messages
    assert (track["event"], track["userId"]) == ("Deal Deleted", "8")
    assert track["properties"] == V2_DEAL
    assert result.objects == [{"collection": "deals", "id": "8",
                               "properties": {"deleted": True}}]


@pytest.mark.parametrize("status, event", [("won", "Deal Won"), ("lost", "Deal Lost")])
def test_v2_deal_closed(load_handler, own_payloads, status, event):
    body = body_of(own_payloads / "v2-create-deal.json")
    body["meta"]["action"] = "change"
    body["data"]["status"] = status
    body["previous"] = {"status": "open"}
    result = load_handler(HANDLER).post(json=body)
    assert result.ok, result.error
    assert [t["event"] for t in result.tracks] == [event]


def test_v2_change_of_a_won_deal_is_an_update(load_handler, own_payloads):
    # v2's previous holds only what changed: a won deal whose title changed is not won anew.
    body = body_of(own_payloads / "v2-create-deal.json")
    body["meta"]["action"] = "change"
    body["data"]["status"] = "won"
    body["previous"] = {"title": "Old title"}
    result = load_handler(HANDLER).post(json=body)
    assert result.ok, result.error
    assert [t["event"] for t in result.tracks] == ["Deal Updated"]


@pytest.mark.parametrize("name, traits", [
    ("v2-create-person.json", {"name": "Sample", "firstName": "Sample"}),
    ("v2-change-person.json", {"name": "Sample Person", "firstName": "Sample Person"}),
])
def test_v2_person_is_identified_and_grouped(load_handler, own_payloads, name, traits):
    result = load_handler(HANDLER).post_payload(own_payloads / name)
    assert result.ok, result.error
    identify, group = result.messages
    assert identify["userId"] == "8"
    assert identify["traits"] == {**traits, "company": {"id": "1"},
                                  "createdAt": "2022-11-24T13:18:55.000Z"}
    assert (group["userId"], group["groupId"]) == ("8", "1")
    [person] = result.objects
    assert (person["collection"], person["id"]) == ("persons", "8")


def test_v2_person_email_is_the_primary_of_emails(load_handler, own_payloads):
    body = body_of(own_payloads / "v2-create-person.json")
    body["data"]["emails"] = [{"label": "home", "value": "old@example.com", "primary": False},
                              {"label": "work", "value": "sample@example.com", "primary": True}]
    body["data"]["phones"] = [{"label": "work", "value": "1234-5678", "primary": True}]
    result = load_handler(HANDLER).post(json=body)
    assert result.ok, result.error
    traits = result.identifies[0]["traits"]
    assert (traits["email"], traits["phone"]) == ("sample@example.com", "1234-5678")


def test_v2_person_deleted_is_only_marked(load_handler, own_payloads):
    result = load_handler(HANDLER).post_payload(own_payloads / "v2-delete-person.json")
    assert result.ok, result.error
    assert result.messages == []
    assert result.objects == [{"collection": "persons", "id": "8",
                               "properties": {"deleted": True}}]


@pytest.mark.parametrize("name, event, content", [
    ("v2-create-note.json", "Note Created", "Deal note"),
    ("v2-change-note.json", "Note Updated", "Deal note (updated)"),
])
def test_v2_note(load_handler, own_payloads, name, event, content):
    result = load_handler(HANDLER).post_payload(own_payloads / name)
    assert result.ok, result.error
    [track] = result.messages
    assert (track["event"], track["userId"]) == (event, "10")
    assert track["properties"] == {"note_id": 1, "content": content, "deal_id": 10}
    assert [(o["collection"], o["id"]) for o in result.objects] == [("notes", "1")]


def test_v2_organization_is_an_object(load_handler, own_payloads):
    result = load_handler(HANDLER).post_payload(own_payloads / "v2-create-organization.json")
    assert result.ok, result.error
    assert result.messages == []
    [organization] = result.objects
    assert (organization["id"], organization["properties"]["name"]) == ("1", "Sample Org")


def test_v2_unclaimed_entity_is_not_supported(load_handler, own_payloads):
    result = load_handler(HANDLER).post_payload(own_payloads / "v2-create-activity.json")
    assert result.error.type == "UnsupportedEventType"
    assert "create.activity" in result.error.message
    assert result.objects == []


def test_v2_unknown_action_is_not_supported(load_handler, own_payloads):
    body = body_of(own_payloads / "v2-create-deal.json")
    body["meta"]["action"] = "merge"
    result = load_handler(HANDLER).post(json=body)
    assert result.error.type == "UnsupportedEventType"
    assert "merge.deal" in result.error.message


def test_v2_delivery_without_entity_id_is_rejected(load_handler, own_payloads):
    body = body_of(own_payloads / "v2-create-deal.json")
    del body["meta"]["entity_id"]
    result = load_handler(HANDLER).post(json=body)
    assert result.error.type == "MessageRejected"
    assert "meta.entity_id" in result.error.message
