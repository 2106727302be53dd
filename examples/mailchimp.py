"""Mailchimp: audience webhooks as Segment events.

Add a webhook to a Mailchimp audience (Audience > Settings > Webhooks) pointing at this
function. Mailchimp posts form-encoded fields (``data[email]``, ``data[merges][FNAME]``,
...). Mailchimp does not know your users' ids, so each person is an ``anonymousId``
derived from their email:

- ``subscribe`` identifies them (email, first and last name, interests) and tracks
  ``Subscribed``; ``profile`` identifies them again.
- ``unsubscribe`` tracks ``Unsubscribed`` (with the action and reason, and the campaign
  the unsubscribe came from).
- ``upemail`` identifies the new address and tracks ``Email Address Changed`` on it.
- ``cleaned`` tracks ``Email Cleaned`` (a hard bounce or an abuse report).
- ``campaign`` (a campaign was sent) concerns nobody in particular and is acknowledged
  with a log line.

Other types are refused as unsupported. Mailchimp does not sign webhooks: keep the URL
secret (a ``?key=`` in it is the usual way), as ``verify_signature`` has nothing to check.
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

EVENTS = {"subscribe": "Subscribed", "unsubscribe": "Unsubscribed",
          "upemail": "Email Address Changed", "cleaned": "Email Cleaned"}


def on_request(request, settings):
    form = request.form()
    kind = form.get("type")
    if not kind:
        raise ValidationError("missing the type field")
    timestamp = fired_at(form)
    if kind == "campaign":
        console.log(f"campaign {form.get('data[id]')} {form.get('data[status]')}")
        return
    if kind not in EVENTS and kind != "profile":
        raise EventNotSupported(f"Mailchimp webhook type {kind!r} is not supported")
    email = form.get("data[new_email]") if kind == "upemail" else form.get("data[email]")
    if not email:
        raise ValidationError(f"the {kind} webhook has no email")
    who = {"anonymousId": anonymous_id(email)}
    if kind in ("subscribe", "profile", "upemail"):
        Segment.identify({**who, "traits": member_traits(form, email), "timestamp": timestamp})
    if kind in EVENTS:
        Segment.track({**who, "event": EVENTS[kind], "timestamp": timestamp,
                       "properties": compact({
                           "list_id": form.get("data[list_id]"),
                           "member_id": form.get("data[id]") or form.get("data[new_id]"),
                           "campaign_id": form.get("data[campaign_id]"),
                           "action": form.get("data[action]"),
                           "reason": form.get("data[reason]"),
                           "previous_email": form.get("data[old_email]"),
                       })})


def member_traits(form, email):
    interests = form.get("data[merges][INTERESTS]")
    return compact({
        "email": email,
        "firstName": form.get("data[merges][FNAME]"),
        "lastName": form.get("data[merges][LNAME]"),
        "phone": form.get("data[merges][PHONE]"),
        "interests": [item.strip() for item in interests.split(",")] if interests else None,
        "emailType": form.get("data[email_type]"),
    })


def fired_at(form):
    """Mailchimp writes ``2009-03-26 21:35:57``, in UTC; None lets Segment use now."""
    value = form.get("fired_at")
    return iso_timestamp(value.replace(" ", "T") + "Z") if value else None
