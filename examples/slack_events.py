"""Slack: Events API deliveries as Segment events.

Point a Slack app's Event Subscriptions (Request URL) at this function and subscribe it
to ``message.channels`` (and ``message.im``, ``message.groups``), ``team_join``,
``member_joined_channel``, ``reaction_added`` or ``app_mention``. Each event is tracked
for the Slack user (``userId`` is their Slack id, ``U…``) with the workspace and channel:
``Message Sent``, ``Channel Joined``, ``Reaction Added``, ``App Mentioned``; a
``team_join`` identifies the new member with their name, email and time zone and tracks
``Team Joined``. Messages from bots and edits (messages with a ``subtype``) and other
event types are refused as unsupported.

Slack's ``url_verification`` handshake wants the challenge echoed back, which a source
function cannot answer yet (SPEC 6's ``respond``): it is logged and emits nothing.
Slack's ``app_rate_limited`` notice is logged too.

Settings:
    signingSecret (string, optional, encrypted): the app's signing secret. When set,
        every delivery must carry a valid ``X-Slack-Signature`` made in the last five
        minutes (``X-Slack-Request-Timestamp``).
"""

from segfn import (
    EventNotSupported,
    Segment,
    compact,
    console,
    iso_timestamp,
    require,
    verify_signature,
)

EVENTS = {"message": "Message Sent", "member_joined_channel": "Channel Joined",
          "reaction_added": "Reaction Added", "app_mention": "App Mentioned",
          "team_join": "Team Joined"}


def on_request(request, settings):
    if settings.get("signingSecret"):
        verify_signature(request, "slack", settings["signingSecret"])
    body = request.json()
    kind = require(body, "type")
    if kind in ("url_verification", "app_rate_limited"):
        console.log(f"{kind}: {body.get('challenge') or body.get('minute_rate_limited')}")
        return
    if kind != "event_callback":
        raise EventNotSupported(f"Slack delivery type {kind!r} is not supported")
    event = require(body, "event")
    name = EVENTS.get(event.get("type"))
    # Edits, deletions and bot posts come as messages with a subtype or a bot_id.
    if not name or event.get("subtype") or event.get("bot_id"):
        raise EventNotSupported(f"Slack event {event_kind(event)!r} is not supported")
    # team_join carries the member's profile; the other events name the user by id.
    member = event.get("user") if isinstance(event.get("user"), dict) else None
    timestamp = iso_timestamp(body["event_time"]) if body.get("event_time") else None
    if member:
        user_id = require(member, "id", within="event.user")
        identify_member(member, user_id, timestamp)
    else:
        user_id = require(event, "user", within="event")
    Segment.track({"userId": user_id, "event": name, "timestamp": timestamp,
                   "properties": event_properties(body, event)})


def event_kind(event):
    return "/".join(part for part in (event.get("type"), event.get("subtype")) if part) or (
        "bot message" if event.get("bot_id") else "unnamed")


def identify_member(user, user_id, timestamp):
    profile = user.get("profile") or {}
    Segment.identify({"userId": user_id, "timestamp": timestamp, "traits": compact({
        "name": user.get("real_name") or profile.get("real_name"),
        "username": user.get("name"),
        "email": profile.get("email"),
        "timezone": user.get("tz"),
        "avatar": profile.get("image_192"),
    })})


def event_properties(body, event):
    item = event.get("item") or {}
    return compact({
        "team_id": body.get("team_id"),
        "event_id": body.get("event_id"),
        "channel": event.get("channel") or item.get("channel"),
        "channel_type": event.get("channel_type"),
        "message_ts": event.get("ts") or item.get("ts"),
        "thread_ts": event.get("thread_ts"),
        "reaction": event.get("reaction"),
    })
