"""Sentry: issue activity from a Sentry integration as Segment events.

Create an internal integration in Sentry (Settings > Developer Settings), set its webhook
URL to this function and subscribe it to "issue". Each delivery is tracked as ``Issue
Created``, ``Issue Resolved``, ``Issue Assigned``, ``Issue Ignored``, ``Issue Archived``
or ``Issue Unresolved`` with the issue's short id, title, level, status, project and
counts. A Sentry user who acted is the ``userId`` (their Sentry id) and is identified with
their name; what Sentry itself did (a new issue, an auto-resolve) has the integration's
installation as its ``anonymousId``. An assignment identifies the assignee with their
email. Other resources (``event_alert``, ``metric_alert``, ``error``, ``comment``) are
refused as unsupported; the ``installation`` hook is acknowledged without events.

Settings:
    clientSecret (string, optional, encrypted): the integration's client secret. When
        set, every delivery must carry a valid ``Sentry-Hook-Signature``.
"""

from segfn import (
    EventNotSupported,
    Segment,
    compact,
    console,
    require,
    verify_signature,
)

ACTIONS = ("created", "resolved", "assigned", "ignored", "archived", "unresolved")


def on_request(request, settings):
    if settings.get("clientSecret"):
        verify_signature(request, "sentry", settings["clientSecret"])
    body = request.json()
    resource = request.headers.get("Sentry-Hook-Resource") or (
        "issue" if (body.get("data") or {}).get("issue") else None)
    if resource == "installation":
        console.log(f"installation {body.get('action')}")
        return
    action = body.get("action")
    if resource != "issue" or action not in ACTIONS:
        raise EventNotSupported(f"Sentry {resource} {action!r} is not supported")
    issue = require(body, "data.issue")
    who = actor_identity(body)
    if who.get("userId") and (body.get("actor") or {}).get("name"):
        Segment.identify({**who, "traits": {"name": body["actor"]["name"]}})
    assignee = body["data"].get("assignee") or {}
    if assignee.get("type") == "user" and assignee.get("id"):
        Segment.identify({"userId": str(assignee["id"]),
                          "traits": compact({"name": assignee.get("name"),
                                             "email": assignee.get("email")})})
    # The hook carries no time of the action: the runtime stamps the track on arrival.
    Segment.track({
        **who,
        "event": f"Issue {action.title()}",
        "properties": issue_properties(issue, assignee),
    })


def actor_identity(body):
    actor = body.get("actor") or {}
    if actor.get("type") == "user" and actor.get("id"):
        return {"userId": str(actor["id"])}
    # Sentry acting on its own: the integration's installation stands for the organization.
    return {"anonymousId": require(body, "installation.uuid")}


def issue_properties(issue, assignee):
    project = issue.get("project") or {}
    return compact({
        "issue_id": str(require(issue, "id", within="data.issue")),
        "short_id": issue.get("shortId"),
        "title": issue.get("title"),
        "culprit": issue.get("culprit"),
        "level": issue.get("level"),
        "status": issue.get("status"),
        "platform": issue.get("platform"),
        "project": project.get("slug"),
        "project_id": project.get("id"),
        "count": int(issue["count"]) if issue.get("count") else None,
        "user_count": issue.get("userCount"),
        "first_seen": issue.get("firstSeen"),
        "last_seen": issue.get("lastSeen"),
        "assignee_id": str(assignee["id"]) if assignee.get("id") else None,
        "assignee_type": assignee.get("type"),
        "url": issue.get("permalink") or issue.get("web_url"),
    })
