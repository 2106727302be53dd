"""Linear: issue and comment activity as Segment events.

Point a Linear webhook (Settings > API > Webhooks) at this function with the "Issues" and
"Comments" data change events. Each delivery is tracked for the Linear user who acted:
``Issue Created``, ``Issue Updated``, ``Issue Removed``, ``Comment Created``, ... with the
issue's identifier (``WEB-43``), title, state, priority, team and labels. The actor is the
``actor`` Linear names on current deliveries; older ones name none, and then an issue's
creator or a comment's author is the ``userId``. Users Linear names with a name or email
are identified. Other types (projects, cycles, reactions, ...) are refused as unsupported.

Settings:
    webhookSecret (string, optional, encrypted): the webhook's signing secret. When set,
        every delivery must carry a valid ``Linear-Signature`` and a ``webhookTimestamp``
        under a minute old.
"""

from segfn import (
    EventNotSupported,
    Segment,
    ValidationError,
    compact,
    iso_timestamp,
    require,
    verify_signature,
)

ACTIONS = {"create": "Created", "update": "Updated", "remove": "Removed"}


def on_request(request, settings):
    if settings.get("webhookSecret"):
        verify_signature(request, "linear", settings["webhookSecret"])
    body = request.json()
    kind = require(body, "type")
    if kind not in ("Issue", "Comment"):
        raise EventNotSupported(f"Linear type {kind!r} is not supported")
    action = require(body, "action")
    if action not in ACTIONS:
        raise EventNotSupported(f"Linear action {action!r} is not supported")
    data = require(body, "data")
    actor = body.get("actor") or data.get("user") or {}
    user_id = actor.get("id") or data.get("userId") or data.get("creatorId")
    if not user_id:
        raise ValidationError("actor.id, data.userId and data.creatorId are all missing")
    timestamp = iso_timestamp(body["createdAt"]) if body.get("createdAt") else None
    if actor.get("name") or actor.get("email"):
        Segment.identify({"userId": user_id, "timestamp": timestamp,
                          "traits": compact({"name": actor.get("name"),
                                             "email": actor.get("email")})})
    describe = issue_properties if kind == "Issue" else comment_properties
    Segment.track({
        "userId": user_id,
        "event": f"{kind} {ACTIONS[action]}",
        "properties": compact({**describe(body, data),
                               "organization_id": body.get("organizationId")}),
        "timestamp": timestamp,
    })


def issue_properties(body, data):
    team = data.get("team") or {}
    return compact({
        "issue_id": require(data, "id", within="data"),
        "identifier": identifier(team, data),
        "title": data.get("title"),
        "state": (data.get("state") or {}).get("name"),
        "priority": data.get("priorityLabel"),
        "team": team.get("name"),
        "assignee_id": data.get("assigneeId"),
        "labels": [label["name"] for label in data.get("labels") or [] if label.get("name")],
        "url": body.get("url"),
    })


def identifier(team, data):
    """What Linear shows for an issue: its team's key and number, ``WEB-43``."""
    if team.get("key") and data.get("number"):
        return f"{team['key']}-{data['number']}"
    return None


def comment_properties(body, data):
    return compact({
        "comment_id": require(data, "id", within="data"),
        "issue_id": data.get("issueId"),
        "issue_title": (data.get("issue") or {}).get("title"),
        "url": body.get("url"),
    })
