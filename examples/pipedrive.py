"""Pipedrive: deals, people, organizations and notes as Segment objects and events.

Create webhooks in Pipedrive under Tools and apps > Webhooks for the actions of ``deal``,
``person``, ``organization`` and ``note`` (or ``*.*``; other objects raise
EventNotSupported), pointed at this function's URL. Both payload versions are read:
webhooks v2 (the default: ``meta.entity``, ``meta.action`` ``create`` / ``change`` /
``delete``, the record in ``data``, a deleted one in ``previous``) and v1 (``meta.object``,
``added`` / ``updated`` / ``deleted``, the record in ``current``).

Every record is saved with ``Segment.set`` in the ``deals``, ``persons``,
``organizations`` or ``notes`` collection, under its Pipedrive id (a deleted record is
saved as ``{"deleted": true}``). The events are about the customer, whose id is the
Pipedrive person id:

- a person is identified (name, email, phone, company) and grouped into its organization;
- a deal emits ``Deal Created``, ``Deal Updated``, ``Deal Won``, ``Deal Lost`` or
  ``Deal Deleted`` for its person;
- a note emits ``Note Created``, ``Note Updated`` or ``Note Deleted`` for its person.

A deal or note with no person, and an organization, only update the object store.

Settings (Pipedrive can send HTTP Basic credentials with each webhook; set both to require
them):

| name              | type   | required | encrypted | meaning                           |
| ----------------- | ------ | -------- | --------- | --------------------------------- |
| basicAuthUser     | string | no       | no        | the webhook's HTTP auth username  |
| basicAuthPassword | string | no       | yes       | the webhook's HTTP auth password  |
"""

import hmac

from segfn import (
    EventNotSupported,
    Segment,
    ValidationError,
    btoa,
    compact,
    console,
    iso_timestamp,
    require,
)

COLLECTIONS = {"deal": "deals", "person": "persons", "organization": "organizations",
               "note": "notes"}
ACTIONS = {"added": "Created", "updated": "Updated", "deleted": "Deleted"}
# Webhooks v2 names the same actions differently.
V2_ACTIONS = {"create": "added", "change": "updated", "delete": "deleted"}


def on_request(request, settings):
    if settings.get("basicAuthUser"):
        check_credentials(request, settings)
    body = request.json()
    meta = body.get("meta") or {}
    kind, action, record_id = v2_event(meta) if "entity" in meta else v1_event(meta)
    # A deleted record only arrives as it was before (v1's current and v2's data are null).
    record = body.get("data") or body.get("current") or body.get("previous")
    if record is None:
        raise ValidationError("data is missing" if "entity" in meta else "current is missing")

    properties = {"deleted": True} if action == "deleted" else record
    Segment.set(collection=COLLECTIONS[kind], id=record_id, properties=properties)
    timestamp = iso_timestamp(meta["timestamp"]) if "timestamp" in meta else None
    if kind == "person" and action != "deleted":
        identify_person(record, timestamp)
    elif kind in ("deal", "note"):
        track(kind, action, record, body.get("previous"), timestamp)


def v1_event(meta):
    """(object, action, id) of a webhooks v1 delivery."""
    kind = require(meta, "object", within="meta")
    action = require(meta, "action", within="meta")
    if kind not in COLLECTIONS or action not in ACTIONS:
        raise EventNotSupported(f"Pipedrive event {action}.{kind} is not supported")
    return kind, action, require(meta, "id", within="meta")


def v2_event(meta):
    """(object, action in v1's words, id) of a webhooks v2 delivery."""
    kind = require(meta, "entity", within="meta")
    action = require(meta, "action", within="meta")
    if kind not in COLLECTIONS or action not in V2_ACTIONS:
        raise EventNotSupported(f"Pipedrive event {action}.{kind} is not supported")
    return kind, V2_ACTIONS[action], require(meta, "entity_id", within="meta")


def check_credentials(request, settings):
    credentials = f"{settings['basicAuthUser']}:{settings.get('basicAuthPassword', '')}"
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given, f"Basic {btoa(credentials)}"):
        raise ValidationError("Authorization does not carry the configured credentials")


def identify_person(person, timestamp):
    traits = {
        "name": person.get("name"),
        "firstName": person.get("first_name"),
        "lastName": person.get("last_name"),
        # v1 calls the lists email and phone, v2 emails and phones.
        "email": primary(person.get("email") or person.get("emails")),
        "phone": primary(person.get("phone") or person.get("phones")),
        # v2 sends the organization's id alone, without org_name.
        "company": compact({"id": str(person["org_id"]), "name": person.get("org_name")})
        if person.get("org_id") else None,
        "createdAt": iso_timestamp(person["add_time"]) if person.get("add_time") else None,
    }
    Segment.identify(user_id=person["id"], traits=compact(traits), timestamp=timestamp)
    if person.get("org_id"):
        Segment.group(user_id=person["id"], group_id=person["org_id"],
                      traits=compact({"name": person.get("org_name")}), timestamp=timestamp)


def track(kind, action, record, previous, timestamp):
    if not record.get("person_id"):
        console.log(f"{kind} {record.get('id')} has no person: saved, no event")
        return
    if kind == "deal":
        properties = {
            "deal_id": record.get("id"),
            "title": record.get("title"),
            "value": record.get("value"),
            "currency": record.get("currency"),
            "status": record.get("status"),
            "pipeline_id": record.get("pipeline_id"),
            "stage_id": record.get("stage_id"),
            "organization_id": record.get("org_id"),
            "expected_close_date": record.get("expected_close_date"),
        }
    else:
        properties = {
            "note_id": record.get("id"),
            "content": record.get("content"),
            "deal_id": record.get("deal_id"),
            "organization_id": record.get("org_id"),
        }
    Segment.track(user_id=record["person_id"], event=event_name(kind, action, record, previous),
                  properties=compact(properties), timestamp=timestamp)


def event_name(kind, action, record, previous):
    # A deal whose status just became won or lost gets the more telling name.
    # v2's previous holds only the fields that changed, v1's the whole record.
    if kind == "deal" and action == "updated" and previous and "status" in previous:
        if record.get("status") != previous["status"] and record.get("status") in (
                "won", "lost"):
            return f"Deal {record['status'].capitalize()}"
    return f"{kind.capitalize()} {ACTIONS[action]}"


def primary(entries):
    """The primary value of a Pipedrive email or phone list (``[{"value", "primary"}]``)."""
    for entry in entries or []:
        if entry.get("primary") and entry.get("value"):
            return entry["value"]
    return None
