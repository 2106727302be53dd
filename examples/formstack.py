"""Formstack: every form submission as a ``Form Submitted`` event.

Point a Formstack webhook (your form > Settings > Emails & Actions > Webhook) at this
function. Every format Formstack posts is read:

- URL-encoded form data (the default): one parameter per field, a field with sub-fields
  as ``first = John`` lines;
- JSON ("Post as JSON"), with bare values (``"Email": "a@example.com"``, a name as
  ``{"first": ..., "last": ...}``);
- JSON with the field type ("Include field type"): ``{"value": ..., "field_type": "email"}``
  (``type`` in older deliveries).

The submitter is identified by their email (a field of type ``email``, else the first
answer that is an address): the ``anonymousId`` is derived from it, and the email, first
and last name are their traits. A submission without an email is refused: it names nobody.
``Form Submitted`` carries the form id, the submission id and every answer by field name;
the submission is also saved as an object (``form_submissions``).

Settings:
    handshakeKey (string, optional, encrypted): the webhook's handshake key. When set,
        every delivery must carry the same ``HandshakeKey``.
"""

import hmac

from segfn import Segment, ValidationError, anonymous_id, normalize_email, require

# Formstack posts these beside the fields; they are not answers.
RESERVED = ("FormID", "UniqueID", "HandshakeKey")


def on_request(request, settings):
    body = submission(request)
    if settings.get("handshakeKey"):
        check_handshake(body, settings["handshakeKey"])
    for name in ("FormID", "UniqueID"):
        require(body, name)

    fields = {key: typed(value) for key, value in body.items() if key not in RESERVED}
    email = submitter_email(fields)
    if not email:
        raise ValidationError("no email in the submission (no field of type email, "
                              "no answer that is an address)")
    name = value_of_type(fields, "name") or first_name_value(fields) or {}
    who = {"anonymousId": anonymous_id(email)}
    answers = {key: value for key, (kind, value) in fields.items() if kind != "section"}

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


def submission(request):
    """The submission as one object, from a URL-encoded or a JSON body."""
    if request.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
        return {name: sub_fields(value) for name, value in request.form().items()}
    body = request.json()
    if not isinstance(body, dict):
        raise ValidationError("the body is not a JSON object")
    return body


def sub_fields(text):
    """A URL-encoded field's value: ``first = John`` lines become ``{"first": "John"}``."""
    lines = [line for line in text.split("\n") if line.strip()]
    if lines and all(" = " in line for line in lines):
        return {key.strip(): value.strip()
                for key, value in (line.split(" = ", 1) for line in lines)}
    return text


def typed(value):
    """(type or None, value) of a field in any of Formstack's forms."""
    if isinstance(value, dict) and "value" in value and (
            "field_type" in value or "type" in value):
        return value.get("field_type") or value.get("type"), value["value"]
    return None, value


def check_handshake(body, key):
    received = body.get("HandshakeKey")
    if not isinstance(received, str) or not hmac.compare_digest(received.encode(), key.encode()):
        raise ValidationError("HandshakeKey does not match the handshakeKey setting")


def submitter_email(fields):
    typed = value_of_type(fields, "email")
    if typed:
        return typed
    # Without field types, the first answer that is an address.
    for _, value in fields.values():
        if isinstance(value, str) and "@" in value and " " not in value.strip():
            return value
    return None


def first_name_value(fields):
    """Without field types, the first answer with first and last sub-fields."""
    for _, value in fields.values():
        if isinstance(value, dict) and ("first" in value or "last" in value):
            return value
    return None


def value_of_type(fields, kind):
    """The value of the first field of type ``kind`` (an email string, a name dict...)."""
    for field_kind, value in fields.values():
        if field_kind == kind and value:
            return value
    return None
