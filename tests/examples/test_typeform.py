import base64
import hashlib
import hmac
import json
from pathlib import Path

from segfn import anonymous_id
from segfn.payloads import load_payload

SOURCE = "typeform"
HANDLER = Path(__file__).resolve().parents[2] / "examples" / "typeform.py"
TOKEN = "a3a12ec67a1365927098a606107fac15"
LAURA = anonymous_id("laura@example.com")


def test_form_response(load_handler, payloads):
    result = load_handler(HANDLER).post_payload(payloads / "form_response.json")
    assert result.ok, result.error
    identify, = result.identifies
    assert identify["anonymousId"] == LAURA
    assert identify["traits"] == {"email": "laura@example.com"}
    track, = result.tracks
    assert track["event"] == "Form Submitted"
    assert track["anonymousId"] == LAURA
    assert track["timestamp"] == "2018-01-18T18:17:02Z"
    properties = track["properties"]
    assert {k: v for k, v in properties.items() if k != "answers"} == {
        "form_id": "lT4Z3j", "form_title": "Webhooks example", "response_id": TOKEN,
        "score": 9}
    answers = properties["answers"]
    assert len(answers) == 12
    assert answers["readable_ref_email"] == "laura@example.com"
    assert answers["readable_ref_short_text"] == "Laura"
    assert answers["readable_ref_picture_choice"] == ["London", "Sydney"]
    assert answers["readable_ref_multiple_choice"] == "London"
    assert answers["readable_ref_yes_no"] is False
    assert answers["readable_ref_date"] == "2005-10-15"


def test_form_response_objects_each_have_their_own_id(load_handler, payloads):
    result = load_handler(HANDLER).post_payload(payloads / "form_response.json")
    by_collection = {}
    for obj in result.objects:
        by_collection.setdefault(obj["collection"], []).append(obj)
    assert [o["id"] for o in by_collection["forms"]] == ["lT4Z3j"]
    assert [o["id"] for o in by_collection["form_responses"]] == [TOKEN]
    assert len(by_collection["form_questions"]) == len(by_collection["form_answers"]) == 12
    ids = [(o["collection"], o["id"]) for o in result.objects]
    assert len(ids) == len(set(ids))
    email_answer = next(o for o in by_collection["form_answers"]
                        if o["id"] == f"{TOKEN}_SMEUb7VJz92Q")
    assert email_answer["properties"] == {"form_id": "lT4Z3j", "response_id": TOKEN,
                                          "question_id": "SMEUb7VJz92Q", "type": "email",
                                          "answer": "laura@example.com"}
    question = next(o for o in by_collection["form_questions"] if o["id"] == "JwWggjAKtOkA")
    assert question["properties"]["title"] == "What is your first name?"


def test_hidden_user_id_wins_and_no_email_falls_back_to_the_token(load_handler):
    typeform = load_handler(HANDLER)
    known = typeform.post(json={"event_type": "form_response", "form_response": {
        "form_id": "f1", "token": "t1", "hidden": {"user_id": "u-42"}, "answers": []}})
    anonymous = typeform.post(json={"event_type": "form_response", "form_response": {
        "form_id": "f1", "token": "t2", "answers": []}})
    assert [m["userId"] for m in known.messages] == ["u-42"]
    assert [m["anonymousId"] for m in anonymous.messages] == ["t2"]


def test_every_payload_runs(load_handler, payload):
    result = load_handler(HANDLER).post_payload(payload)
    assert result.ok, result.error


def typeform_signature(body, secret):
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def test_signatures(load_handler, payloads):
    body = load_payload(payloads / "form_response.json").body
    typeform = load_handler(HANDLER, settings={"webhookSecret": "tf-secret"})
    good = typeform.post(body, headers={"Typeform-Signature": typeform_signature(body,
                                                                                 "tf-secret")})
    bad = typeform.post(body, headers={"Typeform-Signature": typeform_signature(body, "x")})
    assert good.ok, good.error
    assert bad.error.type == "MessageRejected"
    assert "Typeform-Signature does not match" in bad.error.message


def test_unsupported_event(load_handler):
    result = load_handler(HANDLER).post(json={"event_type": "form_deleted"})
    assert result.error.type == "UnsupportedEventType"


def test_missing_token(load_handler):
    body = json.dumps({"event_type": "form_response", "form_response": {"form_id": "f1"}})
    result = load_handler(HANDLER).post(body)
    assert result.error.type == "MessageRejected"
    assert "form_response.token is missing" in result.error.message


def test_example_payload_with_a_hidden_user_id_and_variables(load_handler, own_payloads):
    result = load_handler(HANDLER).post_payload(
        own_payloads / "example-payload-hidden-user-id.json")
    assert result.ok, result.error
    identify, = result.identifies
    assert identify["userId"] == "abc123456"
    assert identify["traits"] == {"email": "laura@example.com"}
    track, = result.tracks
    assert track["userId"] == "abc123456"
    assert track["properties"]["variables"] == {"score": 4, "name": "typeform"}
    assert track["properties"]["score"] == 9


def test_partial_responses_are_not_supported(load_handler, own_payloads):
    body = json.loads(load_payload(own_payloads / "example-payload-hidden-user-id.json").body)
    body["event_type"] = "form_response_partial"
    result = load_handler(HANDLER).post(json=body)
    assert result.error.type == "UnsupportedEventType"
    assert "form_response_partial" in result.error.message
