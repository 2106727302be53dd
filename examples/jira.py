"""Jira: issue events as Segment events.

Point a Jira webhook (System > WebHooks, or an automation's "Send web request" with the
issue data) at this function with the issue created, updated and deleted events. Every
delivery identifies the Jira user who acted (``userId`` is their Cloud ``accountId``, or
on Jira Server/Data Center their ``key`` or ``name``) and tracks what happened: ``Issue
Created``, ``Issue Deleted``, and for updates what Jira's ``issue_event_type_name`` says
(``Issue Assigned``, ``Issue Resolved``, ``Issue Closed``, ``Issue Reopened``, ``Issue
Commented``, else ``Issue Updated``), with the issue's key, summary, type, status,
priority, project and assignee. Other events (comments, worklogs, sprints, projects) are
refused as unsupported.

Jira's admin webhooks are not signed the way ``verify_signature`` knows, so this example
checks none; keep the function's URL secret.
"""

from segfn import EventNotSupported, Segment, ValidationError, compact, iso_timestamp, require

EVENTS = {"jira:issue_created": "Issue Created", "jira:issue_deleted": "Issue Deleted",
          "jira:issue_updated": "Issue Updated"}
UPDATES = {"issue_assigned": "Issue Assigned", "issue_resolved": "Issue Resolved",
           "issue_closed": "Issue Closed", "issue_reopened": "Issue Reopened",
           "issue_commented": "Issue Commented"}


def on_request(request, settings):
    body = request.json()
    event = require(body, "webhookEvent")
    if event not in EVENTS:
        raise EventNotSupported(f"Jira event {event!r} is not supported")
    name = EVENTS[event]
    if event == "jira:issue_updated":
        name = UPDATES.get(body.get("issue_event_type_name"), name)
    user = require(body, "user")
    user_id = jira_user_id(user)
    timestamp = iso_timestamp(body["timestamp"]) if body.get("timestamp") else None
    Segment.identify({"userId": user_id, "timestamp": timestamp, "traits": compact({
        "name": user.get("displayName"),
        "email": user.get("emailAddress"),
        "username": user.get("name"),
        "timezone": user.get("timeZone"),
    })})
    Segment.track({"userId": user_id, "event": name, "timestamp": timestamp,
                   "properties": issue_properties(require(body, "issue"))})


def jira_user_id(user):
    for field in ("accountId", "key", "name"):
        if user.get(field):
            return user[field]
    raise ValidationError("user has no accountId, key or name")


def issue_properties(issue):
    fields = issue.get("fields") or {}
    assignee = fields.get("assignee") or {}
    return compact({
        "issue_id": require(issue, "id", within="issue"),
        "key": issue.get("key"),
        "summary": fields.get("summary"),
        "type": (fields.get("issuetype") or {}).get("name"),
        "status": (fields.get("status") or {}).get("name"),
        "priority": (fields.get("priority") or {}).get("name"),
        "project": (fields.get("project") or {}).get("key"),
        "assignee": assignee.get("accountId") or assignee.get("key") or assignee.get("name"),
        "labels": fields.get("labels"),
    })
