"""Zoom: meeting and webinar webhooks as Segment events.

Subscribe a Zoom app (Marketplace > your app > Feature > Event Subscriptions) to the
meeting and webinar events below, with this function as the endpoint URL:

- ``meeting.participant_joined`` / ``participant_left`` (and the ``webinar.`` ones) track
  ``Meeting Joined`` / ``Meeting Left`` (``Webinar Joined`` / ``Webinar Left``) for the
  participant, identified with their name and email: a signed-in Zoom user is the
  ``userId`` (``participant_user_id``), a guest an ``anonymousId`` from their email, or
  else from Zoom's ``participant_uuid``.
- ``meeting.started`` / ``meeting.ended`` (and webinars) track ``Meeting Started`` /
  ``Meeting Ended`` for the host (``userId`` is the host's Zoom id).

Each carries the meeting's id, uuid, topic, type and the Zoom account. Zoom's
``endpoint.url_validation`` wants an encrypted token answered, which a source function
cannot do yet (SPEC 6's ``respond``): it is logged and emits nothing. Other events are
refused as unsupported.

Settings:
    secretToken (string, optional, encrypted): the app's secret token. When set, every
        delivery must carry a valid ``x-zm-signature`` made in the last five minutes
        (``x-zm-request-timestamp``).
"""

from segfn import (
    EventNotSupported,
    Segment,
    ValidationError,
    anonymous_id,
    compact,
    console,
    iso_timestamp,
    require,
    verify_signature,
)

PARTICIPANT_EVENTS = {"participant_joined": "Joined", "participant_left": "Left"}
HOST_EVENTS = {"started": "Started", "ended": "Ended"}


def on_request(request, settings):
    if settings.get("secretToken"):
        verify_signature(request, "zoom", settings["secretToken"])
    body = request.json()
    event = require(body, "event")
    if event == "endpoint.url_validation":
        console.log(f"url_validation for {(body.get('payload') or {}).get('plainToken')}")
        return
    kind, _, action = event.partition(".")
    if kind not in ("meeting", "webinar") or action not in {**PARTICIPANT_EVENTS, **HOST_EVENTS}:
        raise EventNotSupported(f"Zoom event {event!r} is not supported")
    meeting = require(body, "payload.object")
    timestamp = iso_timestamp(body["event_ts"]) if body.get("event_ts") else None
    properties = meeting_properties(body, meeting)
    noun = kind.title()
    if action in HOST_EVENTS:
        Segment.track({"userId": require(meeting, "host_id", within="payload.object"),
                       "event": f"{noun} {HOST_EVENTS[action]}", "timestamp": timestamp,
                       "properties": properties})
        return
    participant = require(meeting, "participant", within="payload.object")
    who = participant_identity(participant)
    Segment.identify({**who, "timestamp": timestamp, "traits": compact({
        "name": participant.get("user_name"), "email": participant.get("email")})})
    Segment.track({**who, "event": f"{noun} {PARTICIPANT_EVENTS[action]}",
                   "timestamp": timestamp, "properties": compact({
                       **properties,
                       "participant_uuid": participant.get("participant_uuid"),
                       "registrant_id": participant.get("registrant_id"),
                       "join_time": participant.get("join_time"),
                       "leave_time": participant.get("leave_time"),
                       "leave_reason": participant.get("leave_reason"),
                   })})


def participant_identity(participant):
    if participant.get("participant_user_id"):
        return {"userId": participant["participant_user_id"]}
    # Zoom sends "" rather than leaving the field out for guests.
    key = participant.get("email") or participant.get("participant_uuid")
    if not key:
        raise ValidationError("the participant has no participant_user_id, email or "
                              "participant_uuid")
    return {"anonymousId": anonymous_id(key) if "@" in key else key}


def meeting_properties(body, meeting):
    return compact({
        "meeting_id": str(meeting["id"]) if meeting.get("id") else None,
        "meeting_uuid": meeting.get("uuid"),
        "topic": meeting.get("topic"),
        "meeting_type": meeting.get("type"),
        "host_id": meeting.get("host_id"),
        "start_time": meeting.get("start_time"),
        "duration": meeting.get("duration"),
        "account_id": (body.get("payload") or {}).get("account_id"),
    })
