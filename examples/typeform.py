"""Typeform: every form response as a ``Form Submitted`` event, plus the form's records.

Point a Typeform webhook (your form > Connect > Webhooks) at this function. Each response
is tracked as ``Form Submitted`` with its answers, keyed by each question's ``ref``, and
the form's variables by key. Other event types (``form_response_partial``) raise
EventNotSupported. The
respondent is the ``userId`` when the form passes a ``user_id`` hidden field, else an
``anonymousId`` derived from their email answer (and they are identified with that
email), else the response's own token.

Objects, each under its own id: the form (``forms``), its questions (``form_questions``,
by field id), the response (``form_responses``, by response token) and each answer
(``form_answers``, by ``<token>_<field id>``).

Settings:
    webhookSecret (string, optional, encrypted): the webhook's secret. When set, every
        delivery must carry a valid ``Typeform-Signature``.
"""

from segfn import (
    EventNotSupported,
    Segment,
    ValidationError,
    anonymous_id,
    normalize_email,
    verify_signature,
)


def on_request(request, settings):
    if settings.get("webhookSecret"):
        verify_signature(request, "typeform", settings["webhookSecret"])
    body = request.json()
    if body.get("event_type") != "form_response":
        raise EventNotSupported(f"Typeform event {body.get('event_type')!r} is not supported")
    response = body.get("form_response")
    if not response:
        raise ValidationError("form_response is missing")
    for field in ("form_id", "token"):
        if not response.get(field):
            raise ValidationError(f"form_response.{field} is missing")

    definition = response.get("definition") or {}
    questions = {field["id"]: field for field in definition.get("fields", [])}
    answers = response.get("answers") or []
    email = first_email(answers)
    who = respondent(response, email)

    if email:
        Segment.identify({**who, "traits": {"email": normalize_email(email)}})
    Segment.track({
        **who,
        "event": "Form Submitted",
        "properties": {
            "form_id": response["form_id"],
            "form_title": definition.get("title"),
            "response_id": response["token"],
            "score": (response.get("calculated") or {}).get("score"),
            "answers": {question_key(questions, a): answer_value(a) for a in answers},
            **variables(response),
        },
        "timestamp": response.get("submitted_at"),
    })
    save_records(response, definition, answers)


def variables(response):
    """The form's variables (``{"key", "type", <type>: value}``), by key, when it has any."""
    values = {v["key"]: v.get(v.get("type")) for v in response.get("variables") or []
              if v.get("key")}
    return {"variables": values} if values else {}


def respondent(response, email):
    """Who answered: a user id the form was given, else their email, else this response."""
    user_id = (response.get("hidden") or {}).get("user_id")
    if user_id:
        return {"userId": user_id}
    if email:
        return {"anonymousId": anonymous_id(email)}
    return {"anonymousId": response["token"]}


def first_email(answers):
    for answer in answers:
        if answer.get("type") == "email":
            return answer["email"]
    return None


def question_key(questions, answer):
    """The question's ``ref`` (stable, set by the form's author), else its field id."""
    field_id = answer["field"]["id"]
    return questions.get(field_id, {}).get("ref") or field_id


def answer_value(answer):
    """An answer's value: its field named after its type, or the label(s) chosen."""
    kind = answer.get("type")
    if kind == "choice":
        choice = answer["choice"]
        return choice.get("label") or choice.get("other")
    if kind == "choices":
        choices = answer["choices"]
        labels = list(choices.get("labels", []))
        if choices.get("other"):
            labels.append(choices["other"])
        return labels
    return answer.get(kind)


def save_records(response, definition, answers):
    form_id, token = response["form_id"], response["token"]
    Segment.set({"collection": "forms", "id": form_id,
                 "properties": {"title": definition.get("title")}})
    for field in definition.get("fields", []):
        Segment.set({
            "collection": "form_questions",
            "id": field["id"],
            "properties": {
                "form_id": form_id,
                "title": field.get("title"),
                "type": field.get("type"),
                "ref": field.get("ref"),
                "allow_multiple_selections": field.get("allow_multiple_selections"),
                "allow_other_choice": field.get("allow_other_choice"),
            },
        })
    Segment.set({
        "collection": "form_responses",
        "id": token,
        "properties": {
            "form_id": form_id,
            "landed_at": response.get("landed_at"),
            "submitted_at": response.get("submitted_at"),
            "score": (response.get("calculated") or {}).get("score"),
        },
    })
    for answer in answers:
        field_id = answer["field"]["id"]
        Segment.set({
            # A question is answered once per response: both ids make the answer's id.
            "collection": "form_answers",
            "id": f"{token}_{field_id}",
            "properties": {
                "form_id": form_id,
                "response_id": token,
                "question_id": field_id,
                "type": answer.get("type"),
                "answer": answer_value(answer),
            },
        })
