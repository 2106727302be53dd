"""Meta: WhatsApp Business Cloud API webhooks as Segment events.

In the Meta app's dashboard (WhatsApp > Configuration > Webhook), set the callback URL to
this function's webhook and the verify token to the ``verifyToken`` setting, and subscribe
to the ``messages`` field. The source must take GET (``segfn run --allow-get``, or a
service source with ``allow_get``): Meta verifies the URL with a GET carrying
``hub.mode=subscribe``, ``hub.verify_token`` and ``hub.challenge``, and this function
answers the challenge as text, as Meta's Webhooks documentation asks, once the token
matches (a wrong token is refused).

Each delivery (``object`` ``whatsapp_business_account``) may carry several changes:

- a contact's profile identifies them (``userId`` is their WhatsApp id, ``wa_id``);
- an incoming message tracks ``Message Received`` for its sender;
- a status of a message the business sent tracks ``Message Sent``, ``Message Delivered``,
  ``Message Read`` or ``Message Failed`` for its recipient.

Each carries the business account, phone number id, message id and type. Other objects
and fields are refused as unsupported.

Settings:
    verifyToken (string, required, encrypted): the verify token set in the dashboard.
    appSecret (string, optional, encrypted): the app secret. When set, every POST must
        carry a valid ``X-Hub-Signature-256`` (``sha256=`` and the hex HMAC of the body).
"""

from segfn import (
    EventNotSupported,
    Segment,
    ValidationError,
    compact,
    iso_timestamp,
    require,
    respond,
    verify_hmac,
)

STATUSES = {"sent": "Message Sent", "delivered": "Message Delivered",
            "read": "Message Read", "failed": "Message Failed"}


def on_request(request, settings):
    if request.method == "GET":
        return verification(request.url.search_params, settings["verifyToken"])
    if settings.get("appSecret"):
        verify_hmac(request.raw_body, settings["appSecret"],
                    request.headers.get("X-Hub-Signature-256"), prefix="sha256=",
                    header="X-Hub-Signature-256")
    body = request.json()
    if body.get("object") != "whatsapp_business_account":
        raise EventNotSupported(f"Meta webhook object {body.get('object')!r} is not supported")
    changes = [(entry.get("id"), change) for entry in require(body, "entry")
               for change in entry.get("changes") or []]
    if not any(change.get("field") == "messages" for _, change in changes):
        fields = sorted({str(change.get("field")) for _, change in changes})
        raise EventNotSupported(f"Meta webhook fields {fields} are not supported")
    for account, change in changes:
        if change.get("field") == "messages":
            track_change(account, require(change, "value", within="entry.changes"))


def verification(query, verify_token):
    if query.get("hub.mode") != "subscribe":
        raise ValidationError("a GET is Meta's verification: hub.mode must be 'subscribe'")
    if query.get("hub.verify_token") != verify_token:
        raise ValidationError("hub.verify_token does not match the verifyToken setting")
    challenge = query.get("hub.challenge")
    if not challenge:
        raise ValidationError("the verification carries no hub.challenge")
    return respond(text=challenge)


def track_change(account, value):
    common = compact({"business_account_id": account,
                      "phone_number_id": (value.get("metadata") or {}).get("phone_number_id")})
    for contact in value.get("contacts") or []:
        name = (contact.get("profile") or {}).get("name")
        Segment.identify({"userId": require(contact, "wa_id", within="contacts"),
                          "traits": compact({"name": name})})
    for message in value.get("messages") or []:
        Segment.track({"userId": require(message, "from", within="messages"),
                       "event": "Message Received", "timestamp": when(message),
                       "properties": {**common, "message_id": message.get("id"),
                                      "message_type": message.get("type")}})
    for status in value.get("statuses") or []:
        event = STATUSES.get(status.get("status"))
        if event is None:
            raise EventNotSupported(f"WhatsApp status {status.get('status')!r} is not supported")
        Segment.track({"userId": require(status, "recipient_id", within="statuses"),
                       "event": event, "timestamp": when(status),
                       "properties": compact({**common, "message_id": status.get("id")})})


def when(item):
    return iso_timestamp(item["timestamp"]) if item.get("timestamp") else None
