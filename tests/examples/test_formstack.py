from pathlib import Path

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
    assert "no field of type email" in no_email.error.message
    assert "FormID is missing" in no_form.error.message
