"""GitHub: issue and comment activity as Segment events.

Point a repository or organization webhook at this function (Settings > Webhooks, content
type ``application/json``) with the "Issues" and "Issue comments" events. Every delivery
identifies the GitHub user who acted (``userId`` is their numeric GitHub id) and tracks
what they did: ``Issue Opened``, ``Issue Closed``, ``Issue Comment Created``, ... The
``ping`` GitHub sends when the webhook is created is acknowledged without events.

Settings:
    webhookSecret (string, optional, encrypted): the webhook's secret. When set, every
        delivery must carry a valid ``X-Hub-Signature-256``.
"""

from segfn import EventNotSupported, Segment, ValidationError, console, iso_timestamp, verify_github


def on_request(request, settings):
    if settings.get("webhookSecret"):
        verify_github(request, settings["webhookSecret"])
    event = request.headers.get("X-GitHub-Event")
    if not event:
        raise ValidationError("missing X-GitHub-Event header")
    body = request.json()
    if event == "ping":
        console.log(f"ping from hook {body.get('hook_id')}: {body.get('zen')}")
        return
    if event not in ("issues", "issue_comment"):
        raise EventNotSupported(f"GitHub event {event!r} is not supported")

    sender = required(body, "sender")
    properties = issue_properties(required(body, "issue"), required(body, "repository"))
    identify_sender(sender)
    if event == "issues":
        track_issue(body, sender, properties)
    else:
        track_comment(body, sender, properties, required(body, "comment"))


def required(body, field):
    value = body.get(field)
    if not value:
        raise ValidationError(f"{field} is missing")
    return value


def identify_sender(sender):
    Segment.identify({
        "userId": str(sender["id"]),
        "traits": {
            "username": sender.get("login"),
            "avatar": sender.get("avatar_url"),
            "githubUrl": sender.get("html_url"),
        },
    })


def track_issue(body, sender, properties):
    Segment.track({
        "userId": str(sender["id"]),
        # "opened" becomes "Issue Opened"; "unassigned" becomes "Issue Unassigned".
        "event": f"Issue {action(body)}",
        "properties": properties,
        "timestamp": iso_timestamp(body["issue"]["updated_at"]),
    })


def track_comment(body, sender, properties, comment):
    properties["comment_id"] = str(comment["id"])
    properties["comment_url"] = comment.get("html_url")
    Segment.track({
        "userId": str(sender["id"]),
        "event": f"Issue Comment {action(body)}",
        "properties": properties,
        "timestamp": iso_timestamp(comment["updated_at"]),
    })


def action(body):
    return required(body, "action").replace("_", " ").title()


def issue_properties(issue, repository):
    return {
        "issue_id": str(issue["id"]),
        "issue_number": issue.get("number"),
        "title": issue.get("title"),
        "state": issue.get("state"),
        "url": issue.get("html_url"),
        "repository": repository.get("full_name"),
        "repository_id": str(repository["id"]),
    }
