"""Close: leads, contacts, opportunities, calls, emails and notes as Segment data.

Subscribe this function's URL to Close events (Settings > Developer > Webhooks, or
``POST /api/v1/webhook/``) for the objects ``lead``, ``contact``, ``opportunity``,
``activity.call``, ``activity.email`` and ``activity.note`` with the actions ``created``,
``updated`` and ``deleted``. Other objects and actions raise EventNotSupported.

Each delivery:

- saves the record with ``Segment.set`` under its Close id, in ``leads``, ``contacts``,
  ``opportunities``, ``calls``, ``emails`` or ``notes`` (a deleted record is saved as
  ``{"deleted": true}``);
- tracks ``<Object> <Action>`` (``Lead Created``, ``Call Updated``, ``Opportunity
  Deleted``...) for the Close user who made the change: Close's event log records what
  your team does. The lead and contact ids are properties. A change Close made itself
  (``user_id`` null: workflows, imports) has no one to track, and is saved and identified
  only;
- identifies a contact (userId: the contact id, traits: name, title, email, phone) and
  groups it into its lead, which is the company in Close;
- groups every contact of a lead into the lead, with the lead's name, website and address.

The Close event id is the messageId, so a re-sent event is dropped by Segment.

Settings:

| name         | type   | required | encrypted | meaning                                     |
| ------------ | ------ | -------- | --------- | ------------------------------------------- |
| signatureKey | string | no       | yes       | the subscription's ``signature_key`` (hex); |
|              |        |          |           | when set, ``Close-Sig-Hash`` must match     |
"""

import hashlib
import hmac

from segfn import (
    EventNotSupported,
    Segment,
    ValidationError,
    compact,
    console,
    iso_timestamp,
    require,
)

# object_type -> (name in events, collection of its records)
OBJECTS = {
    "lead": ("Lead", "leads"),
    "contact": ("Contact", "contacts"),
    "opportunity": ("Opportunity", "opportunities"),
    "activity.call": ("Call", "calls"),
    "activity.email": ("Email", "emails"),
    "activity.note": ("Note", "notes"),
}
ACTIONS = {"created": "Created", "updated": "Updated", "deleted": "Deleted"}

# The fields worth having on the event itself; the whole record goes to the object store.
DETAILS = {
    "lead": ("display_name", "status_label", "url"),
    "contact": ("name", "title"),
    "opportunity": ("status_label", "status_type", "confidence", "value_currency",
                    "value_period", "date_won"),
    "activity.call": ("direction", "disposition", "duration", "status"),
    "activity.email": ("direction", "status", "subject", "template_name"),
    "activity.note": (),
}


def on_request(request, settings):
    if settings.get("signatureKey"):
        verify_signature(request, settings["signatureKey"])
    event = request.json().get("event")
    if not isinstance(event, dict):
        raise ValidationError("event is missing")
    object_type = require(event, "object_type", within="event")
    action = require(event, "action", within="event")
    if object_type not in OBJECTS or action not in ACTIONS:
        raise EventNotSupported(f"Close event {object_type} {action} is not supported")
    object_id = require(event, "object_id", within="event")
    record = event.get("data") or {}
    timestamp = iso_timestamp(event["date_created"]) if event.get("date_created") else None

    save(object_type, object_id, record, deleted=action == "deleted")
    track(event, object_type, action, record, timestamp)
    if action == "deleted":
        return
    if object_type == "contact":
        identify_contact(record, timestamp)
    elif object_type == "lead":
        group_contacts(object_id, record, timestamp)


def verify_signature(request, key):
    """Close signs the timestamp header followed by the body, keyed with the hex key."""
    signature = request.headers.get("Close-Sig-Hash")
    stamp = request.headers.get("Close-Sig-Timestamp")
    if not signature or not stamp:
        raise ValidationError("missing Close-Sig-Hash or Close-Sig-Timestamp")
    expected = hmac.new(bytes.fromhex(key), stamp.encode() + request.raw_body,
                        hashlib.sha256).hexdigest()
    if not hmac.compare_digest(signature, expected):
        raise ValidationError("Close-Sig-Hash does not match the body")


def save(object_type, object_id, record, deleted):
    # Keys like "_type" are Close's bookkeeping, not part of the record.
    properties = {"deleted": True} if deleted else {
        name: value for name, value in record.items() if not name.startswith("_")}
    Segment.set(collection=OBJECTS[object_type][1], id=object_id, properties=properties)


def track(event, object_type, action, record, timestamp):
    noun = OBJECTS[object_type][0]
    if not event.get("user_id"):
        # Close's own automations (workflows, imports) change records as nobody.
        console.log(f"{object_type} {action} by no Close user: no {noun} {ACTIONS[action]}")
        return
    properties = {
        "lead_id": event.get("lead_id"),
        "contact_id": record.get("contact_id"),
        # Last, so that a lead's or contact's own id wins over the fields above.
        f"{noun.lower()}_id": event["object_id"],
        "changed_fields": event.get("changed_fields"),
    }
    for name in DETAILS[object_type]:
        properties[name] = record.get(name)
    if object_type == "opportunity" and record.get("value") is not None:
        properties["value"] = record["value"] / 100  # Close counts in cents
    Segment.track({
        "userId": event["user_id"],
        "event": f"{noun} {ACTIONS[action]}",
        "properties": compact(properties),
        "timestamp": timestamp,
        "messageId": event.get("id"),
    })


def identify_contact(contact, timestamp):
    emails = contact.get("emails") or [{}]
    phones = contact.get("phones") or [{}]
    traits = {
        "name": contact.get("name"),
        "title": contact.get("title"),
        "email": emails[0].get("email"),
        "phone": phones[0].get("phone"),
        "createdAt": iso_timestamp(contact["date_created"]) if contact.get("date_created")
        else None,
    }
    Segment.identify(user_id=contact["id"], traits=compact(traits), timestamp=timestamp)
    if contact.get("lead_id"):
        Segment.group(user_id=contact["id"], group_id=contact["lead_id"], timestamp=timestamp)


def group_contacts(lead_id, lead, timestamp):
    addresses = lead.get("addresses") or [{}]
    address = {
        "street": addresses[0].get("address_1"),
        "city": addresses[0].get("city"),
        "state": addresses[0].get("state"),
        "postalCode": addresses[0].get("zipcode"),
        "country": addresses[0].get("country"),
    }
    traits = {
        "name": lead.get("display_name") or lead.get("name"),
        "website": lead.get("url"),
        "description": lead.get("description"),
        "status": lead.get("status_label"),
        "address": compact(address),
    }
    for contact_id in lead.get("contact_ids") or []:
        Segment.group(user_id=contact_id, group_id=lead_id, traits=compact(traits),
                      timestamp=timestamp)
