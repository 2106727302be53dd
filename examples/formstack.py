"""Formstack: every form submission as a ``Form Submitted`` event.

Point a Formstack webhook (your form > Settings > Emails & Actions > Webhook) at this
function, with "Post with sub-field names" and "Post as JSON" checked. The submitter is
identified by their email (the first field of type ``email``): the ``anonymousId`` is
derived from it, and the email, first and last name (from a field of type ``name``) are
their traits. ``Form Submitted`` carries the form id, the submission id and every answer
by field name; the submission is also saved as an object (``form_submissions``).

Settings:
    handshakeKey (string, optional, encrypted): the webhook's handshake key. When set,
        every delivery must carry the same ``HandshakeKey``.
"""

import hmac

from segfn import Segment, ValidationError, anonymous_id, normalize_email, require

# Formstack posts these beside the fields; they are not answers.
RESERVED = ("FormID", "UniqueID", "HandshakeKey")


def on_request(request, settings):
    body = request.json()
    if settings.get("handshakeKey"):
        check_handshake(body, settings["handshakeKey"])
    for field in ("FormID", "UniqueID"):
        require(body, field)

    fields = {name: value for name, value in body.items()
              if name not in RESERVED and isinstance(value, dict)}
    email = field_of_type(fields, "email")
    if not email:
        raise ValidationError("no field of type email with a value")
    name = field_of_type(fields, "name") or {}
    who = {"anonymousId": anonymous_id(email)}
    answers = {key: field["value"] for key, field in fields.items()
               if field.get("type") != "section"}

    Segment.identify({
        **who,
        "traits": {
            "email": normalize_email(email),
            "firstName": name.get("first"),
            "lastName": name.get("last"),
        },
    })
    Segment.track({
        **who,
        "event": "Form Submitted",
        "properties": {
            "form_id": body["FormID"],
            "submission_id": body["UniqueID"],
            "answers": answers,
        },
    })
    Segment.set({
        "collection": "form_submissions",
        "id": body["UniqueID"],
        "properties": {"form_id": body["FormID"], "email": normalize_email(email),
                       "answers": answers},
    })


def check_handshake(body, key):
    received = body.get("HandshakeKey")
    if not isinstance(received, str) or not hmac.compare_digest(received.encode(), key.encode()):
        raise ValidationError("HandshakeKey does not match the handshakeKey setting")


def field_of_type(fields, kind):
    """The value of the first field of type ``kind`` (an email string, a name dict...)."""
    for field in fields.values():
        if field.get("type") == kind and field.get("value"):
            return field["value"]
    return None
