"""examples/close_io.py: Close events become objects, tracks, identifies and groups."""

import hashlib
import hmac
import json
from pathlib import Path

import pytest

SOURCE = "close-io"  # conftest.py: the payloads fixture is payloads/close-io/
HANDLER = Path(__file__).resolve().parents[2] / "examples" / "close_io.py"
SIGNATURE_KEY = "6a1b9c0d2e3f405162738495a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f"
CLOSE_USER = "user_jkKBEsYynjwxnXKxidVoVbl07mIjCizf2gEQVn23kDB"
LEAD_FULLSTORY = "lead_PcFM8kynPHJGA8ox1Pbi4EQfwaY1zkcejPihu1LbBCY"
LEAD_CUSTOMER_IO = "lead_6jtLjE3zOL2lYxQzalvEF7BTg8awGAXKAVlj6bo0wui"
ESTELLA = "cont_XSji72fbzkDyZijXKDMOOf1iVA5r70yWx5rnJxLvp0x"
REBECCA = "cont_qZrs0uDvtDHljl6IojkXypuXkEAsrKib3kU2Fijqhf0"
CALL = "acti_O8H1eRursFaNuMj8mzWQnv6XPVgeEXD3Bzb3s5QzIjN"
NOTE = "acti_5sZvqwIpK42gSJtPmVZjM3RpuBGiLdZRBpGCd1rzPm9"

def body_of(path):
    return json.loads(path.read_text())["payload"]["body"]


def signed(raw, stamp="1561595716", key=SIGNATURE_KEY):
    digest = hmac.new(bytes.fromhex(key), stamp.encode() + raw, hashlib.sha256).hexdigest()
    return {"Close-Sig-Hash": digest, "Close-Sig-Timestamp": stamp}


def test_call_created(load_handler, payloads):
    result = load_handler(HANDLER).post_payload(payloads / "activity_call_created.json")
    assert result.ok, result.error
    [track] = result.messages
    assert track["type"] == "track"
    assert track["event"] == "Call Created"
    assert track["userId"] == CLOSE_USER
    assert track["properties"] == {"lead_id": LEAD_CUSTOMER_IO, "contact_id": REBECCA,
                                   "call_id": CALL, "direction": "outbound",
                                   "disposition": "answered", "duration": 0,
                                   "status": "completed"}
    assert track["messageId"] == "ev_5ggZkIMaH5NXz2MdG6rcLQ"
    assert track["timestamp"] == "2019-06-27T00:35:16.414Z"
    [call] = result.objects
    assert (call["collection"], call["id"]) == ("calls", CALL)
    assert call["properties"]["remote_phone"] == "+13102322342"
    assert "_type" not in call["properties"]


def test_call_updated(load_handler, payloads):
    result = load_handler(HANDLER).post_payload(payloads / "activity_call_updated.json")
    assert result.ok, result.error
    [track] = result.messages
    assert track["event"] == "Call Updated"
    assert track["properties"]["changed_fields"] == ["date_updated", "note"]
    [call] = result.objects
    assert (call["collection"], call["id"]) == ("calls", CALL)
    assert call["properties"]["note"] == "Called Rebecca."


def test_email_updated(load_handler, payloads):
    result = load_handler(HANDLER).post_payload(payloads / "activity_email_updated.json")
    assert result.ok, result.error
    [track] = result.messages
    assert track["event"] == "Email Updated"
    assert track["userId"] == CLOSE_USER
    assert track["properties"] == {
        "lead_id": LEAD_CUSTOMER_IO,
        "contact_id": REBECCA,
        "email_id": "acti_KtHZE1wUJXg2fBu9FPwfOacTU67K1TfRe5qFM56Gz7A",
        "changed_fields": ["body_html", "body_text", "date_updated", "status"],
        "direction": "outgoing",
        "status": "outbox",
        "subject": "Customer.io + Segment",
        "template_name": "Email 1 - Intro",
    }
    [email] = result.objects
    assert email["collection"] == "emails"
    assert email["properties"]["to"] == ["rebecca@example.com"]


@pytest.mark.parametrize("name, event, text", [
    ("activity_note_created.json", "Note Created", "T"),
    ("activity_note_updated.json", "Note Updated", "This is so cool!"),
])
def test_note(load_handler, payloads, name, event, text):
    result = load_handler(HANDLER).post_payload(payloads / name)
    assert result.ok, result.error
    [track] = result.messages
    assert track["event"] == event
    assert track["userId"] == CLOSE_USER
    assert track["properties"]["note_id"] == NOTE
    assert "contact_id" not in track["properties"]  # a note on the lead, not a contact
    [note] = result.objects
    assert (note["collection"], note["id"], note["properties"]["note"]) == ("notes", NOTE, text)


def test_contact_created(load_handler, payloads):
    result = load_handler(HANDLER).post_payload(payloads / "contact_created.json")
    assert result.ok, result.error
    track, identify, group = result.messages
    assert track["event"] == "Contact Created"
    assert track["userId"] == CLOSE_USER
    assert track["properties"] == {"lead_id": LEAD_FULLSTORY, "contact_id": ESTELLA,
                                   "name": "Estella Line"}
    assert identify["type"] == "identify"
    assert identify["userId"] == ESTELLA
    assert identify["traits"] == {"name": "Estella Line",
                                  "createdAt": "2019-06-27T01:14:09.182Z"}
    assert (group["type"], group["userId"], group["groupId"]) == ("group", ESTELLA,
                                                                   LEAD_FULLSTORY)
    [contact] = result.objects
    assert (contact["collection"], contact["id"]) == ("contacts", ESTELLA)


def test_contact_updated_reads_the_email_address(load_handler, payloads):
    result = load_handler(HANDLER).post_payload(payloads / "contact_updated.json")
    assert result.ok, result.error
    track, identify, group = result.messages
    assert track["event"] == "Contact Updated"
    assert track["properties"]["changed_fields"] == ["date_updated", "emails"]
    assert identify["userId"] == REBECCA
    assert identify["traits"] == {"name": "Rebecca Guru", "title": "CEO",
                                  "email": "rebecca@example.com",
                                  "createdAt": "2019-06-27T00:15:55.447Z"}
    assert group["groupId"] == LEAD_CUSTOMER_IO


def test_contact_updated_phone(load_handler, payloads):
    result = load_handler(HANDLER).post_payload(payloads / "activity_contact_updated.json")
    assert result.ok, result.error
    assert [m["type"] for m in result.messages] == ["track", "identify", "group"]
    assert result.tracks[0]["event"] == "Contact Updated"
    assert result.identifies[0]["traits"]["phone"] == "+13102322312"
    assert result.identifies[0]["traits"]["title"] == "CEO"


def test_lead_created_groups_its_contacts(load_handler, payloads):
    result = load_handler(HANDLER).post_payload(payloads / "lead_created.json")
    assert result.ok, result.error
    track, group = result.messages
    assert track["event"] == "Lead Created"
    assert track["userId"] == CLOSE_USER
    assert track["properties"] == {"lead_id": LEAD_FULLSTORY, "display_name": "Fullstory",
                                   "status_label": "Potential"}
    assert (group["userId"], group["groupId"]) == (ESTELLA, LEAD_FULLSTORY)
    assert group["traits"] == {"name": "Fullstory", "status": "Potential"}
    [lead] = result.objects
    assert (lead["collection"], lead["id"]) == ("leads", LEAD_FULLSTORY)


def test_lead_updated_carries_the_address(load_handler, payloads):
    result = load_handler(HANDLER).post_payload(payloads / "lead_updated.json")
    assert result.ok, result.error
    track, group = result.messages
    assert track["event"] == "Lead Updated"
    assert group["traits"] == {
        "name": "Fullstory",
        "website": "https://fullstory.com",
        "description": "The best company",
        "status": "Potential",
        "address": {"street": "332 California", "city": "San Francisco", "state": "CA",
                    "postalCode": "94131", "country": "US"},
    }


def test_opportunity_created(load_handler, payloads):
    result = load_handler(HANDLER).post_payload(payloads / "opportunity_created.json")
    assert result.ok, result.error
    [track] = result.messages
    assert track["event"] == "Opportunity Created"
    assert track["properties"] == {
        "lead_id": LEAD_CUSTOMER_IO,
        "contact_id": REBECCA,
        "opportunity_id": "oppo_MxvuXUHkjPwsAglBTUyoarTh4KeC3dC9Z1RLX7UCQv4",
        "status_label": "Active",
        "status_type": "active",
        "confidence": 70,
        "value_currency": "USD",
        "value_period": "one_time",
        "date_won": "2019-06-29",
        "value": 34345,  # Close counts in cents
    }
    [opportunity] = result.objects
    assert opportunity["collection"] == "opportunities"


def test_deleted_record(load_handler, payloads):
    body = body_of(payloads / "lead_updated.json")
    body["event"].update(action="deleted", data={})
    result = load_handler(HANDLER).post(json=body)
    assert result.ok, result.error
    assert [t["event"] for t in result.tracks] == ["Lead Deleted"]
    assert result.groups == []
    assert result.objects == [{"collection": "leads", "id": LEAD_FULLSTORY,
                               "properties": {"deleted": True}}]


def test_good_signature_is_accepted(load_handler, payloads):
    raw = json.dumps(body_of(payloads / "lead_created.json")).encode()
    handler = load_handler(HANDLER, settings={"signatureKey": SIGNATURE_KEY})
    result = handler.post(body=raw, headers=signed(raw))
    assert result.ok, result.error
    assert [t["event"] for t in result.tracks] == ["Lead Created"]


def test_bad_signature_is_rejected(load_handler, payloads):
    raw = json.dumps(body_of(payloads / "lead_created.json")).encode()
    handler = load_handler(HANDLER, settings={"signatureKey": SIGNATURE_KEY})
    headers = signed(raw)
    headers["Close-Sig-Timestamp"] = "1561595999"  # signed for another moment
    result = handler.post(body=raw, headers=headers)
    assert result.error.type == "MessageRejected"
    assert "Close-Sig-Hash does not match" in result.error.message
    assert result.messages == [] and result.objects == []


def test_missing_signature_is_rejected(load_handler, payloads):
    handler = load_handler(HANDLER, settings={"signatureKey": SIGNATURE_KEY})
    result = handler.post(json=body_of(payloads / "lead_created.json"))
    assert result.error.type == "MessageRejected"
    assert "Close-Sig-Hash" in result.error.message


def test_unsupported_object_type(load_handler, payloads):
    body = body_of(payloads / "lead_created.json")
    body["event"]["object_type"] = "task.lead"
    result = load_handler(HANDLER).post(json=body)
    assert result.error.type == "UnsupportedEventType"
    assert "task.lead" in result.error.message


def test_change_by_no_user_is_saved_and_identified_without_a_track(load_handler, own_payloads):
    result = load_handler(HANDLER).post_payload(own_payloads / "contact-updated-by-no-user.json")
    assert result.ok, result.error
    assert [m["type"] for m in result.messages] == ["identify", "group"]
    identify, group = result.messages
    assert identify["userId"] == "cont_qZrs0uDvtDHljl6IojkXypuXkEAsrKib3kU2Fijqhf0"
    assert identify["traits"]["name"] == "Rebecca Guru"
    assert group["groupId"] == "lead_6jtLjE3zOL2lYxQzalvEF7BTg8awGAXKAVlj6bo0wui"
    assert [o["collection"] for o in result.objects] == ["contacts"]
    assert result.logs == ["contact updated by no Close user: no Contact Updated"]


def test_lead_created_by_no_user_groups_its_contacts(load_handler, payloads):
    body = body_of(payloads / "lead_created.json")
    del body["event"]["user_id"]
    result = load_handler(HANDLER).post(json=body)
    assert result.ok, result.error
    assert result.tracks == []
    assert [o["collection"] for o in result.objects] == ["leads"]


@pytest.mark.parametrize("name, events", [
    ("activity_call_created.json", ["Call Created"]),
    ("activity_call_updated.json", ["Call Updated"]),
    ("activity_contact_updated.json", ["Contact Updated"]),
    ("activity_email_updated.json", ["Email Updated"]),
    ("activity_note_created.json", ["Note Created"]),
    ("activity_note_updated.json", ["Note Updated"]),
    ("contact_created.json", ["Contact Created"]),
    ("contact_updated.json", ["Contact Updated"]),
    ("lead_created.json", ["Lead Created"]),
    ("lead_updated.json", ["Lead Updated"]),
    ("opportunity_created.json", ["Opportunity Created"]),
])
def test_recorded_deliveries(load_handler, payloads, name, events):
    result = load_handler(HANDLER).post_payload(payloads / name)
    assert result.ok, result.error
    assert [m["event"] for m in result.messages if m["type"] == "track"] == events
    assert len(result.objects) == 1
