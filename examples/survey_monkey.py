"""SurveyMonkey: survey responses as Segment events and objects.

Create a webhook with SurveyMonkey's API (``POST /v3/webhooks``, ``object_type``
``survey`` or ``collector``) whose ``subscription_url`` is this function's URL, for any of
these events:

| event_type            | emits                            |
| --------------------- | -------------------------------- |
| response_created      | ``Survey Response Started``      |
| response_updated      | ``Survey Response Updated``      |
| response_completed    | ``Survey Response Submitted``    |
| response_disqualified | ``Survey Response Disqualified`` |

Other event types raise EventNotSupported. Each event also saves the response in the
``survey_responses`` collection, under the response id, with its survey, collector and
status.

Callbacks carry the response as ``object_id`` and what the webhook filters on as
``filter_type`` / ``filter_id``; newer ones add a ``resources`` block (respondent, survey,
collector, recipient). Both are read: without ``resources`` the survey or collector comes
from the filter.

SurveyMonkey's webhook names the response, not the person who answered: the respondent
id is the anonymousId. To tie responses to your users, fetch the response with the API
(its ``custom_variables`` or contact email) and ``Segment.alias`` the two. The webhook's
event id is the messageId, so a re-sent event is dropped by Segment.

Settings (SurveyMonkey signs each webhook with ``Sm-Signature``, a base64 HMAC-SHA1 of the
body keyed with ``"{client id}&{client secret}"``; set both to require it):

| name         | type   | required | encrypted | meaning                                 |
| ------------ | ------ | -------- | --------- | --------------------------------------- |
| clientId     | string | no       | no        | your app's client id (or API key)       |
| clientSecret | string | no       | yes       | your app's secret; when set,            |
|              |        |          |           | ``Sm-Signature`` must match the body    |
"""

from segfn import (
    EventNotSupported,
    Segment,
    ValidationError,
    compact,
    iso_timestamp,
    require,
    verify_hmac,
)

# event_type -> (event name, the response's status as SurveyMonkey's API reports it)
EVENTS = {
    "response_created": ("Survey Response Started", "partial"),
    "response_updated": ("Survey Response Updated", "partial"),
    "response_completed": ("Survey Response Submitted", "completed"),
    "response_disqualified": ("Survey Response Disqualified", "disqualified"),
}


def on_request(request, settings):
    if settings.get("clientSecret"):
        key = f"{settings['clientId']}&{settings['clientSecret']}"
        verify_hmac(request.raw_body, key, request.headers.get("Sm-Signature"),
                    algorithm="sha1", encoding="base64", header="Sm-Signature")
    body = request.json()
    kind = require(body, "event_type")
    if kind not in EVENTS:
        raise EventNotSupported(f"SurveyMonkey event {kind} is not supported")
    resources = body.get("resources") or {}
    response_id = resources.get("respondent_id") or body.get("object_id")
    if not response_id:
        raise ValidationError("resources.respondent_id and object_id are missing")

    event, status = EVENTS[kind]
    timestamp = iso_timestamp(body["event_datetime"]) if body.get("event_datetime") else None
    properties = compact({
        "survey_id": resources.get("survey_id") or filtered(body, "survey"),
        "collector_id": resources.get("collector_id") or filtered(body, "collector"),
        "response_id": response_id,
    })
    # A recipient id of "0" means the response did not come through an email invitation.
    if resources.get("recipient_id") not in (None, "0"):
        properties["recipient_id"] = resources["recipient_id"]
    Segment.track(anonymous_id=response_id, event=event, properties=properties,
                  timestamp=timestamp, message_id=body.get("event_id"))
    Segment.set(collection="survey_responses", id=response_id,
                properties={**properties, "status": status, "updated_at": timestamp})


def filtered(body, kind):
    """The id of the survey or collector the webhook filters on, if it is a ``kind``."""
    return body.get("filter_id") if body.get("filter_type") == kind else None
