from pathlib import Path

import pytest

from segfn import anonymous_id

SOURCE = "formstack"
HANDLER = Path(__file__).resolve().parents[2] / "examples" / "formstack.py"
GAREN = anonymous_id("garen+test@segment.com")
ANSWERS = {"Name": {"first": "Garen", "last": "Damacia"}, "Email": "garen+test@segment.com",
           "optin": None}
SUBMISSION = {
    "FormID": "3557005",
    "UniqueID": "530120339",
    "Email": {"value": "garen+test@segment.com", "type": "email"},
}


def calls(result):
    return [{k: v for k, v in m.items() if k not in ("messageId", "context", "timestamp")}
            for m in result.messages]


def test_form_submitted(load_handler, payloads):
    result = load_handler(HANDLER).post_payload(payloads / "form.json")
    assert result.ok, result.error
    assert calls(result) == [
        {"type": "identify", "anonymousId": GAREN,
         "traits": {"email": "garen+test@segment.com", "firstName": "Garen",
                    "lastName": "Damacia"}},
        {"type": "track", "anonymousId": GAREN, "event": "Form Submitted",
         "properties": {"form_id": "3557005", "submission_id": "530120339",
                        "answers": ANSWERS}},
    ]
    assert list(result.objects) == [{
        "collection": "form_submissions",
        "id": "530120339",
        "properties": {"form_id": "3557005", "email": "garen+test@segment.com",
                       "answers": ANSWERS},
    }]


def test_every_payload_runs(load_handler, payload):
    result = load_handler(HANDLER).post_payload(payload)
    assert result.ok, result.error


def test_handshake_key(load_handler):
    formstack = load_handler(HANDLER, settings={"handshakeKey": "hk-1"})
    good = formstack.post(json={**SUBMISSION, "HandshakeKey": "hk-1"})
    bad = formstack.post(json={**SUBMISSION, "HandshakeKey": "hk-2"})
    missing = formstack.post(json=SUBMISSION)
    assert good.ok, good.error
    assert "HandshakeKey" not in good.tracks[0]["properties"]["answers"]
    assert bad.error.type == missing.error.type == "MessageRejected"
    assert "HandshakeKey does not match" in bad.error.message


def test_missing_email_or_ids(load_handler):
    formstack = load_handler(HANDLER)
    no_email = formstack.post(json={"FormID": "1", "UniqueID": "2"})
    no_form = formstack.post(json={"UniqueID": "2", "Email": SUBMISSION["Email"]})
    assert no_email.error.type == no_form.error.type == "MessageRejected"
    assert "no email in the submission" in no_email.error.message
    assert "FormID is missing" in no_form.error.message


# The contact form of Formstack's documentation, in each of the formats it posts.
JOHN = anonymous_id("user@example.com")


@pytest.mark.parametrize("name, answers", [
    ("contact-form-urlencoded.json", {"Name": {"first": "John", "last": "Smith"},
                                      "Email": "user@example.com"}),
    ("contact-form-json.json", {"Name": {"first": "John", "last": "Smith"},
                                "Email": "user@example.com"}),
    ("contact-form-json-field-type.json", {"Name": {"first": "John", "last": "Smith"},
                                           "Email": "user@example.com"}),
])
def test_every_documented_format(load_handler, own_payloads, name, answers):
    result = load_handler(HANDLER).post_payload(own_payloads / name)
    assert result.ok, result.error
    assert calls(result) == [
        {"type": "identify", "anonymousId": JOHN,
         "traits": {"email": "user@example.com", "firstName": "John", "lastName": "Smith"}},
        {"type": "track", "anonymousId": JOHN, "event": "Form Submitted",
         "properties": {"form_id": "23534", "submission_id": "12345678", "answers": answers}},
    ]
    assert [(o["collection"], o["id"]) for o in result.objects] == [
        ("form_submissions", "12345678")]


def test_urlencoded_handshake_key(load_handler):
    formstack = load_handler(HANDLER, settings={"handshakeKey": "hk-1"})
    fields = {"FormID": "1", "UniqueID": "2", "Email": "a@example.com"}
    good = formstack.post(data={**fields, "HandshakeKey": "hk-1"})
    bad = formstack.post(data={**fields, "HandshakeKey": "hk-2"})
    assert good.ok, good.error
    assert good.tracks[0]["properties"]["answers"] == {"Email": "a@example.com"}
    assert bad.error.type == "MessageRejected"


def test_an_answer_that_only_mentions_an_at_is_not_the_email(load_handler):
    result = load_handler(HANDLER).post(json={
        "FormID": "1", "UniqueID": "2", "Comment": "meet me @ noon", "Email": "b@example.com"})
    assert result.ok, result.error
    assert result.identifies[0]["traits"]["email"] == "b@example.com"


def test_body_that_is_not_an_object_is_rejected(load_handler):
    result = load_handler(HANDLER).post(json=["FormID", "1"])
    assert result.error.type == "MessageRejected"
    assert "not a JSON object" in result.error.message
