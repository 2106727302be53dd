"""Intercom: conversation webhooks as Segment events about the customer.

In the Intercom Developer Hub, open your app's Webhooks page, set the endpoint URL to this
function's URL and subscribe to any of these topics:

| topic                             | emits                     |
| --------------------------------- | ------------------------- |
| conversation.user.created         | ``Conversation Started``  |
| conversation.user.replied         | ``Conversation Replied``  |
| conversation.admin.replied        | ``Conversation Replied``  |
| conversation.admin.single.created | ``Conversation Started``  |
| conversation.admin.assigned       | ``Conversation Assigned`` |
| conversation.admin.open.assigned  | ``Conversation Assigned`` |
| conversation.admin.noted          | ``Conversation Noted``    |
| conversation.admin.unsnoozed      | ``Conversation Unsnoozed``|
| conversation.admin.closed         | ``Conversation Closed``   |
| conversation.admin.opened         | ``Conversation Reopened`` |
| conversation.admin.snoozed        | ``Conversation Snoozed``  |
| conversation.rating.added         | ``Conversation Rated``    |

Other topics raise EventNotSupported. Each delivery also identifies the customer with the
name and email Intercom has for them, and saves the conversation (state, customer,
assignee, times) in the ``conversations`` collection under its Intercom id.

The customer's ``user_id`` (the id your app gave Intercom) is the userId; a lead or visitor
without one is known by an anonymousId derived from their email, or failing that from their
Intercom contact id. Both API shapes are read: 1.x conversations name the customer in
``user`` and the assignee in ``assignee``; 2.x conversations list ``contacts`` (the first
is the customer, its ``external_id`` your user id), start with a ``source`` whose author is
the customer, and carry ``admin_assignee_id``. Intercom's notification
id is the messageId, so a re-sent notification is dropped by Segment.

Settings:

| name         | type   | required | encrypted | meaning                                      |
| ------------ | ------ | -------- | --------- | -------------------------------------------- |
| clientSecret | string | no       | yes       | your Intercom app's client secret; when set, |
|              |        |          |           | ``X-Hub-Signature`` must match the body      |
"""

from segfn import (
    EventNotSupported,
    Segment,
    ValidationError,
    anonymous_id,
    iso_timestamp,
    require,
    verify_hmac,
)

EVENTS = {
    "conversation.user.created": "Conversation Started",
    "conversation.user.replied": "Conversation Replied",
    "conversation.admin.replied": "Conversation Replied",
    "conversation.admin.single.created": "Conversation Started",
    "conversation.admin.assigned": "Conversation Assigned",
    "conversation.admin.open.assigned": "Conversation Assigned",
    "conversation.admin.noted": "Conversation Noted",
    "conversation.admin.unsnoozed": "Conversation Unsnoozed",
    "conversation.admin.closed": "Conversation Closed",
    "conversation.admin.opened": "Conversation Reopened",
    "conversation.admin.snoozed": "Conversation Snoozed",
    "conversation.rating.added": "Conversation Rated",
}


def on_request(request, settings):
    if settings.get("clientSecret"):
        verify_hmac(request.raw_body, settings["clientSecret"],
                    request.headers.get("X-Hub-Signature"), algorithm="sha1",
                    prefix="sha1=", header="X-Hub-Signature")
    body = request.json()
    topic = require(body, "topic")
    if topic not in EVENTS:
        raise EventNotSupported(f"Intercom topic {topic} is not supported")
    require(body, "data.item.id")
    conversation = body["data"]["item"]
    user = customer_of(conversation)
    customer = customer_ids(user)
    timestamp = timestamp_of(body.get("created_at"))

    traits = {"name": user.get("name"), "email": user.get("email"),
              "intercom_id": user.get("id")}
    Segment.identify({**customer, "timestamp": timestamp,
                      "traits": {name: value for name, value in traits.items() if value}})
    Segment.track({**customer, "event": EVENTS[topic], "timestamp": timestamp,
                   "properties": conversation_properties(conversation),
                   "messageId": body.get("id")})
    save(conversation, user)


def save(conversation, user):
    properties = {
        "state": conversation.get("state"),
        "read": conversation.get("read"),
        "user_id": user.get("user_id"),
        "user_email": user.get("email"),
        "assignee_id": assignee_of(conversation).get("id"),
        "created_at": timestamp_of(conversation.get("created_at")),
        "updated_at": timestamp_of(conversation.get("updated_at")),
    }
    Segment.set(collection="conversations", id=conversation["id"], properties={
        name: value for name, value in properties.items() if value is not None})


def timestamp_of(seconds):
    return iso_timestamp(seconds) if seconds else None


def customer_of(conversation):
    """The customer as a 1.x ``user`` (``id``, ``user_id``, ``name``, ``email``)."""
    if conversation.get("user"):
        return conversation["user"]
    contacts = (conversation.get("contacts") or {}).get("contacts") or []
    contact = contacts[0] if contacts else {}
    author = (conversation.get("source") or {}).get("author") or {}
    if author.get("type") == "admin" or (contact and author.get("id") != contact.get("id")):
        author = {}
    return {"id": contact.get("id") or author.get("id"),
            "user_id": contact.get("external_id"),
            "name": author.get("name"), "email": author.get("email") or None}


def assignee_of(conversation):
    if conversation.get("assignee"):
        return conversation["assignee"]
    if conversation.get("admin_assignee_id"):
        return {"id": str(conversation["admin_assignee_id"])}
    return {}


def customer_ids(user):
    if user.get("user_id"):
        return {"userId": user["user_id"]}
    if user.get("email"):
        return {"anonymousId": anonymous_id(user["email"])}
    if user.get("id"):
        return {"anonymousId": f"intercom:{user['id']}"}
    raise ValidationError("the conversation names no customer (user, contacts or source)")


def conversation_properties(conversation):
    assignee = assignee_of(conversation)
    parts = (conversation.get("conversation_parts") or {}).get("conversation_parts") or []
    # The newest part is what this notification is about (the reply, the assignment...).
    author = (parts[-1].get("author") or {}) if parts else {}
    rating = conversation.get("conversation_rating") or {}
    properties = {
        "conversation_id": conversation["id"],
        "state": conversation.get("state"),
        "author_type": author.get("type"),
        "author_name": author.get("name"),
        "assignee_id": assignee.get("id"),
        "assignee_name": assignee.get("name"),
        "rating": rating.get("rating"),
        "remark": rating.get("remark"),
        "url": (conversation.get("links") or {}).get("conversation_web"),
    }
    return {name: value for name, value in properties.items() if value is not None}
