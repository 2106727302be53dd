"""Auth0: a log stream's events as Segment events.

Create a Custom Webhook log stream in Auth0 (Monitoring > Streams; JSON array or JSON
object) pointing at this function. Each log event about a person becomes a track for the
Auth0 user (``userId`` is their ``user_id``, ``auth0|…``; when Auth0 knows only what they
typed, as on a failed signup, an ``anonymousId`` derived from that email): ``Signed In``,
``Sign In Failed``, ``Signed Up``, ``Sign Up Failed``, ``Signed Out``, ``Password
Changed``, ``Email Verified``, and ``Management API Called`` for the dashboard user behind
a Management API operation. The person is identified with their email. A batch (an array)
emits the events it can and logs the log types it skips; a delivery with none refuses as
unsupported.

Auth0 does not sign log stream deliveries (it sends the Authorization header you
configure), and ``verify_signature`` has no Auth0 scheme, so this example checks none.
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

# Auth0's log event type codes: https://auth0.com/docs/deploy-monitor/logs/log-event-type-codes
EVENTS = {"s": "Signed In", "f": "Sign In Failed", "fp": "Sign In Failed",
          "fu": "Sign In Failed", "ss": "Signed Up", "fs": "Sign Up Failed",
          "slo": "Signed Out", "scp": "Password Changed",
          "sv": "Email Verified", "sapi": "Management API Called"}


def on_request(request, settings):
    body = request.json()
    logs = body if isinstance(body, list) else [body]
    emitted = 0
    for log in logs:
        data = log.get("data") if isinstance(log, dict) else None
        if not isinstance(data, dict):
            raise ValidationError("a log event has no data object")
        if data.get("type") not in EVENTS:
            console.log(f"skipped log type {data.get('type')!r} ({data.get('description')})")
            continue
        track_log(log, data)
        emitted += 1
    if not emitted:
        raise EventNotSupported("no log event of a supported type")


def track_log(log, data):
    person = actor(data)
    who, email = identity(person)
    timestamp = iso_timestamp(data["date"]) if data.get("date") else None
    if email:
        Segment.identify({**who, "traits": {"email": email}, "timestamp": timestamp})
    Segment.track({**who, "event": EVENTS[data["type"]], "timestamp": timestamp,
                   "properties": compact({
                       "log_id": log.get("log_id") or data.get("log_id"),
                       "log_type": data["type"],
                       "description": data.get("description"),
                       "connection": data.get("connection"),
                       "client_id": data.get("client_id"),
                       "client_name": data.get("client_name"),
                       "strategy": data.get("strategy"),
                       "ip": data.get("ip"),
                       "path": ((data.get("details") or {}).get("request") or {}).get("path"),
                   })})


def actor(data):
    """Who the log is about: the dashboard user for a Management API call."""
    details = data.get("details") or {}
    if data["type"] == "sapi":
        user = ((details.get("request") or {}).get("auth") or {}).get("user") or {}
        return {"user_id": user.get("user_id"), "email": user.get("email")}
    typed = (details.get("body") or {}).get("email")
    name = data.get("user_name") or ""
    return {"user_id": data.get("user_id"), "email": typed or (name if "@" in name else None)}


def identity(person):
    if person["user_id"]:
        return {"userId": person["user_id"]}, person["email"]
    if person["email"]:
        return {"anonymousId": anonymous_id(person["email"])}, person["email"]
    raise ValidationError("the log event names no user_id and no email")
