"""GitLab: issue activity as Segment events.

Point a project or group webhook (Settings > Webhooks) at this function with "Issues
events" (confidential issues too, if wanted). Every delivery identifies the GitLab user
who acted (``userId`` is their numeric GitLab id; deliveries from before GitLab sent
``user.id`` name them by the issue's ``updated_by_id``, or ``author_id`` when it was
opened) and tracks what they did: ``Issue Opened``, ``Issue Closed``, ``Issue
Reopened``, ``Issue Updated``. Other hooks (push, merge requests, notes, pipelines) are
refused as unsupported.

GitLab does not sign deliveries: it sends the webhook's secret token as
``X-Gitlab-Token``, and ``verify_signature`` has no GitLab scheme yet, so this example
checks none. Keep the function's URL secret, or put a check of the token in front of it.
"""

from segfn import EventNotSupported, Segment, ValidationError, compact, iso_timestamp, require

ACTIONS = {"open": "Opened", "close": "Closed", "reopen": "Reopened", "update": "Updated"}


def on_request(request, settings):
    body = request.json()
    kind = body.get("object_kind")
    if kind != "issue":
        raise EventNotSupported(f"GitLab {kind or request.headers.get('X-Gitlab-Event')!r} "
                                "is not supported")
    issue = require(body, "object_attributes")
    action = require(issue, "action", within="object_attributes")
    if action not in ACTIONS:
        raise EventNotSupported(f"GitLab issue action {action!r} is not supported")
    user = body.get("user") or {}
    user_id = str(actor_id(user, issue, action))
    timestamp = gitlab_time(issue.get("updated_at"))
    Segment.identify({"userId": user_id, "timestamp": timestamp, "traits": compact({
        "username": user.get("username"),
        "name": user.get("name"),
        "email": user.get("email"),
        "avatar": user.get("avatar_url"),
    })})
    Segment.track({
        "userId": user_id,
        "event": f"Issue {ACTIONS[action]}",
        "properties": issue_properties(body, issue),
        "timestamp": timestamp,
    })


def actor_id(user, issue, action):
    if user.get("id"):
        return user["id"]
    acted = issue.get("author_id") if action == "open" else issue.get("updated_by_id")
    if not acted:
        raise ValidationError("user.id is missing and the issue names no one who acted")
    return acted


def issue_properties(body, issue):
    project = body.get("project") or {}
    return compact({
        "issue_id": str(require(issue, "id", within="object_attributes")),
        "issue_number": issue.get("iid"),
        "title": issue.get("title"),
        "state": issue.get("state"),
        "confidential": issue.get("confidential"),
        "url": issue.get("url"),
        "labels": [label["title"] for label in body.get("labels") or [] if label.get("title")],
        "project": project.get("path_with_namespace"),
        "project_id": str(issue["project_id"]) if issue.get("project_id") else None,
    })


def gitlab_time(value):
    """GitLab writes ``2016-08-18 18:14:13 UTC``; None lets Segment use now."""
    if not value:
        return None
    return iso_timestamp(value.replace(" UTC", "Z").replace(" ", "T", 1))
