"""Calendly: scheduling webhooks as Segment events.

Create a Calendly webhook subscription (``POST /webhook_subscriptions``, with a signing
key) for ``invitee.created``, ``invitee.canceled`` and ``invitee_no_show.created``,
pointing at this function. The invitee is an ``anonymousId`` derived from their email
(Calendly does not know your user ids) and is identified with their name, email, time
zone and phone; each delivery is tracked as ``Meeting Scheduled`` (``Meeting
Rescheduled`` when it replaces an earlier booking), ``Meeting Canceled`` (with who
canceled and why) or ``Meeting No Show``, with the meeting's name, start and end, location,
hosts and UTM tracking. Other events (routing forms, event types, contacts) are refused
as unsupported.

Settings:
    signingKey (string, optional, encrypted): the subscription's signing key. When set,
        every delivery must carry a valid ``Calendly-Webhook-Signature`` made in the last
        three minutes, as Calendly's docs suggest.
"""

from segfn import (
    EventNotSupported,
    Segment,
    ValidationError,
    anonymous_id,
    compact,
    iso_timestamp,
    require,
    verify_signature,
)

EVENTS = ("invitee.created", "invitee.canceled", "invitee_no_show.created")


def on_request(request, settings):
    if settings.get("signingKey"):
        verify_signature(request, "calendly", settings["signingKey"])
    body = request.json()
    event = require(body, "event")
    if event not in EVENTS:
        raise EventNotSupported(f"Calendly event {event!r} is not supported")
    invitee = require(body, "payload")
    email = invitee.get("email")
    if not email:
        raise ValidationError("payload.email is missing")
    who = {"anonymousId": anonymous_id(email)}
    timestamp = iso_timestamp(body["created_at"]) if body.get("created_at") else None
    Segment.identify({**who, "timestamp": timestamp, "traits": compact({
        "email": email,
        "name": invitee.get("name"),
        "firstName": invitee.get("first_name"),
        "lastName": invitee.get("last_name"),
        "timezone": invitee.get("timezone"),
        "phone": invitee.get("text_reminder_number"),
    })})
    Segment.track({**who, "event": event_name(event, invitee), "timestamp": timestamp,
                   "properties": meeting_properties(invitee)})


def event_name(event, invitee):
    if event == "invitee_no_show.created":
        return "Meeting No Show"
    if event == "invitee.canceled":
        return "Meeting Canceled"
    return "Meeting Rescheduled" if invitee.get("old_invitee") else "Meeting Scheduled"


def meeting_properties(invitee):
    meeting = invitee.get("scheduled_event") or {}
    cancellation = invitee.get("cancellation") or {}
    tracking = invitee.get("tracking") or {}
    return compact({
        "invitee_uri": invitee.get("uri"),
        "event_uri": meeting.get("uri") or invitee.get("event"),
        "meeting_name": meeting.get("name"),
        "start_time": meeting.get("start_time"),
        "end_time": meeting.get("end_time"),
        "location_type": (meeting.get("location") or {}).get("type"),
        "hosts": [host["user_email"] for host in meeting.get("event_memberships") or []
                  if host.get("user_email")],
        "rescheduled": invitee.get("rescheduled") or None,
        "canceled_by": cancellation.get("canceled_by"),
        "canceler_type": cancellation.get("canceler_type"),
        "cancel_reason": cancellation.get("reason"),
        "utm_campaign": tracking.get("utm_campaign"),
        "utm_source": tracking.get("utm_source"),
        "utm_medium": tracking.get("utm_medium"),
        "utm_content": tracking.get("utm_content"),
        "utm_term": tracking.get("utm_term"),
    })
