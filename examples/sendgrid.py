"""SendGrid: Event Webhook deliveries as Segment email events.

Point SendGrid's Event Webhook (Settings > Mail Settings > Event Webhooks) at this
function. SendGrid posts a batch (an array) of events; each becomes a track in Segment's
email spec: ``Email Processed``, ``Email Deferred``, ``Email Delivered``, ``Email
Bounced``, ``Email Dropped``, ``Email Opened``, ``Email Link Clicked``, ``Email Marked as
Spam``, ``Unsubscribed``, ``Group Unsubscribed``, ``Group Resubscribed``. The recipient is
the ``userId`` when the message was sent with a ``userId`` (or ``user_id``) custom
argument, else an ``anonymousId`` derived from their email. Unknown event types in a batch
are logged and skipped; a batch with none SendGrid documents is refused as unsupported.

SendGrid signs deliveries with ECDSA (``X-Twilio-Email-Event-Webhook-Signature``), which
``verify_signature`` does not know yet, so this example checks none.
"""

from segfn import (
    EventNotSupported,
    Segment,
    ValidationError,
    anonymous_id,
    compact,
    console,
    iso_timestamp,
)

EVENTS = {"processed": "Email Processed", "deferred": "Email Deferred",
          "delivered": "Email Delivered", "bounce": "Email Bounced",
          "dropped": "Email Dropped", "open": "Email Opened", "click": "Email Link Clicked",
          "spamreport": "Email Marked as Spam", "unsubscribe": "Unsubscribed",
          "group_unsubscribe": "Group Unsubscribed",
          "group_resubscribe": "Group Resubscribed"}


def on_request(request, settings):
    events = request.json()
    if not isinstance(events, list):
        raise ValidationError("SendGrid posts an array of events")
    tracked = 0
    for event in events:
        if not isinstance(event, dict) or event.get("event") not in EVENTS:
            console.log(f"skipped event {describe(event)!r}")
            continue
        track(event)
        tracked += 1
    if not tracked:
        raise EventNotSupported("no SendGrid event of a supported type")


def describe(event):
    return event.get("event") if isinstance(event, dict) else "not an object"


def recipient(event):
    user_id = event.get("userId") or event.get("user_id")
    if user_id:
        return {"userId": str(user_id)}
    if not event.get("email"):
        raise ValidationError(f"a {event['event']} event has no email")
    return {"anonymousId": anonymous_id(event["email"])}


def track(event):
    category = event.get("category")
    Segment.track({
        **recipient(event),
        "event": EVENTS[event["event"]],
        "timestamp": iso_timestamp(event["timestamp"]) if event.get("timestamp") else None,
        "properties": compact({
            "email": event.get("email"),
            "email_id": event.get("sg_message_id"),
            "event_id": event.get("sg_event_id"),
            "smtp_id": event.get("smtp-id"),
            # SendGrid sends one category as a string and several as a list.
            "categories": [category] if isinstance(category, str) else category,
            "reason": event.get("reason") or event.get("response"),
            "status": event.get("status"),
            "attempt": int(event["attempt"]) if event.get("attempt") else None,
            "link_url": event.get("url"),
            "user_agent": event.get("useragent"),
            "ip": event.get("ip"),
            "machine_open": event.get("sg_machine_open"),
            "group_id": event.get("asm_group_id"),
        }),
    })
