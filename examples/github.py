"""GitHub: issue and comment activity as Segment events.

Point a repository or organization webhook at this function (Settings > Webhooks) with the
"Issues" and "Issue comments" events. Either content type works: ``application/json``, or
``application/x-www-form-urlencoded`` (GitHub's default), which carries the JSON in a
``payload`` parameter. Every delivery
identifies the GitHub user who acted (``userId`` is their numeric GitHub id) and tracks
what they did: ``Issue Opened``, ``Issue Closed``, ``Issue Comment Created``, ... The
``ping`` GitHub sends when the webhook is created is acknowledged without events.

Settings:
    webhookSecret (string, optional, encrypted): the webhook's secret. When set, every
        delivery must carry a valid ``X-Hub-Signature-256``.
"""

import json

from segfn import (
    EventNotSupported,
    Segment,
    ValidationError,
    console,
    iso_timestamp,
    require,
    verify_signature,
)


def on_request(request, settings):
    if settings.get("webhookSecret"):
        verify_signature(request, "github", settings["webhookSecret"])
    event = request.headers.get("X-GitHub-Event")
    if not event:
        raise ValidationError("missing X-GitHub-Event header")
    body = delivery(request)
    if event == "ping":
        console.log(f"ping from hook {body.get('hook_id')}: {body.get('zen')}")
        return
    if event not in ("issues", "issue_comment"):
        raise EventNotSupported(f"GitHub event {event!r} is not supported")

    sender = require(body, "sender")
    properties = issue_properties(require(body, "issue"), require(body, "repository"))
    identify_sender(sender)
    if event == "issues":
        track_issue(body, sender, properties)
    else:
        track_comment(body, sender, properties, require(body, "comment"))


def delivery(request):
    """The JSON GitHub sent: the body, or the ``payload`` parameter of a form body."""
    if not request.headers.get("Content-Type", "").startswith(
            "application/x-www-form-urlencoded"):
        return request.json()
    payload = request.form().get("payload")
    if not payload:
        raise ValidationError("the payload parameter is missing")
    try:
        return json.loads(payload)
    except ValueError:
        raise ValidationError("the payload parameter is not JSON") from None


def identify_sender(sender):
    Segment.identify({
        "userId": str(require(sender, "id", within="sender")),
        "traits": {
            "username": sender.get("login"),
            "avatar": sender.get("avatar_url"),
            "githubUrl": sender.get("html_url"),
        },
    })


def track_issue(body, sender, properties):
    Segment.track({
        "userId": str(require(sender, "id", within="sender")),
        # "opened" becomes "Issue Opened"; "unassigned" becomes "Issue Unassigned".
        "event": f"Issue {action(body)}",
        "properties": properties,
        "timestamp": changed_at(body["issue"]),
    })


def track_comment(body, sender, properties, comment):
    properties["comment_id"] = str(require(comment, "id", within="comment"))
    properties["comment_url"] = comment.get("html_url")
    Segment.track({
        "userId": str(require(sender, "id", within="sender")),
        "event": f"Issue Comment {action(body)}",
        "properties": properties,
        "timestamp": changed_at(comment),
    })


def action(body):
    return require(body, "action").replace("_", " ").title()


def issue_properties(issue, repository):
    return {
        "issue_id": str(require(issue, "id", within="issue")),
        "issue_number": issue.get("number"),
        "title": issue.get("title"),
        "state": issue.get("state"),
        "url": issue.get("html_url"),
        "repository": repository.get("full_name"),
        "repository_id": str(require(repository, "id", within="repository")),
    }


def changed_at(record):
    """When GitHub says the issue or comment last changed; None lets Segment use now."""
    return iso_timestamp(record["updated_at"]) if record.get("updated_at") else None
