import hashlib
import hmac
import json
from pathlib import Path

from segfn.payloads import load_payload
from tests.examples.conftest import stable

SOURCE = "github"
HANDLER = Path(__file__).resolve().parents[2] / "examples" / "github.py"
SENDER = {
    "type": "identify",
    "userId": "147410",
    "traits": {
        "username": "nzoschke",
        "avatar": "https://avatars2.githubusercontent.com/u/147410?v=4",
        "githubUrl": "https://github.com/nzoschke",
    },
}
ISSUE = {
    "issue_id": "461632783",
    "issue_number": 1,
    "title": "Test Issue",
    "url": "https://github.com/nzoschke/mega-api/issues/1",
    "repository": "nzoschke/mega-api",
    "repository_id": "193562664",
}


def calls(result):
    """The messages without the fields the runtime fills in."""
    return [{k: v for k, v in m.items() if k not in ("messageId", "context")}
            for m in result.messages]


def without_time(message):
    return {k: v for k, v in message.items() if k != "timestamp"}


def test_issue_opened(load_handler, payloads):
    result = load_handler(HANDLER).post_payload(payloads / "issue-opened.json")
    assert result.ok, result.error
    identify, track = calls(result)
    assert without_time(identify) == SENDER
    assert track == {
        "type": "track",
        "userId": "147410",
        "event": "Issue Opened",
        "properties": {**ISSUE, "state": "open"},
        "timestamp": "2019-06-27T16:37:05.000Z",
    }
    assert result.objects == []


def test_issue_closed(load_handler, payloads):
    result = load_handler(HANDLER).post_payload(payloads / "issue-closed.json")
    identify, track = calls(result)
    assert without_time(identify) == SENDER
    assert track == {
        "type": "track",
        "userId": "147410",
        "event": "Issue Closed",
        "properties": {**ISSUE, "state": "closed"},
        "timestamp": "2019-06-27T16:37:19.000Z",
    }


def test_issue_comment_created(load_handler, payloads):
    result = load_handler(HANDLER).post_payload(payloads / "issue-comment-created.json")
    identify, track = calls(result)
    assert without_time(identify) == SENDER
    assert track == {
        "type": "track",
        "userId": "147410",
        "event": "Issue Comment Created",
        "properties": {
            **ISSUE,
            "state": "open",
            "comment_id": "506421356",
            "comment_url": "https://github.com/nzoschke/mega-api/issues/1#issuecomment-506421356",
        },
        "timestamp": "2019-06-27T16:37:12.000Z",
    }


def test_ping_is_acknowledged_without_events(load_handler, payloads):
    result = load_handler(HANDLER).post_payload(payloads / "ping.json")
    assert result.ok
    assert result.messages == [] and result.objects == []
    assert list(result.logs) == ["ping from hook 119977719: Avoid administrative distraction."]


def test_every_payload_runs(load_handler, payload):
    result = load_handler(HANDLER).post_payload(payload)
    assert result.ok, result.error


def signed(body, secret):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_good_signature_is_accepted(load_handler, payloads):
    body = load_payload(payloads / "issue-opened.json").body
    github = load_handler(HANDLER, settings={"webhookSecret": "s3cret"})
    result = github.post(body, headers={"X-GitHub-Event": "issues",
                                        "X-Hub-Signature-256": signed(body, "s3cret")})
    assert result.ok, result.error
    assert [t["event"] for t in result.tracks] == ["Issue Opened"]


def test_bad_or_missing_signature_is_rejected(load_handler, payloads):
    body = load_payload(payloads / "issue-opened.json").body
    github = load_handler(HANDLER, settings={"webhookSecret": "s3cret"})
    bad = github.post(body, headers={"X-GitHub-Event": "issues",
                                     "X-Hub-Signature-256": signed(body, "wrong")})
    missing = github.post(body, headers={"X-GitHub-Event": "issues"})
    assert bad.error.type == "MessageRejected"
    assert "X-Hub-Signature-256 does not match" in bad.error.message
    assert missing.error.type == "MessageRejected"
    assert not bad.messages and not missing.messages


def test_unsupported_event(load_handler):
    result = load_handler(HANDLER).post(json={"ref": "refs/heads/main"},
                                        headers={"X-GitHub-Event": "push"})
    assert result.error.type == "UnsupportedEventType"
    assert "'push'" in result.error.message


def test_missing_event_header_and_missing_sender(load_handler, payloads):
    github = load_handler(HANDLER)
    no_header = github.post(json={"action": "opened"})
    assert no_header.error.type == "MessageRejected"
    assert "X-GitHub-Event" in no_header.error.message
    no_sender = github.post(json={"action": "opened", "issue": {"id": 1}},
                            headers={"X-GitHub-Event": "issues"})
    assert no_sender.error.type == "MessageRejected"
    assert "sender is missing" in no_sender.error.message


def test_a_missing_nested_id_names_its_path(load_handler, payloads):
    payload = load_payload(payloads / "issue-opened.json")
    body = json.loads(payload.body)
    del body["issue"]["id"]
    result = load_handler(HANDLER).post(json=body, headers={"X-GitHub-Event": "issues"})
    assert result.error.type == "MessageRejected"
    assert "issue.id is missing" in result.error.message


def test_an_issue_without_updated_at_is_tracked_at_the_call_time(load_handler):
    body = {"action": "opened", "sender": {"id": 42, "login": "octocat"},
            "issue": {"id": 1, "number": 7, "title": "Bug"},
            "repository": {"id": 9, "full_name": "o/r"}}
    result = load_handler(HANDLER).post(json=body, headers={"X-GitHub-Event": "issues"})
    assert result.ok, result.error
    assert result.tracks[0]["event"] == "Issue Opened"
    assert result.tracks[0]["properties"]["issue_id"] == "1"


def test_form_encoded_delivery(load_handler, own_payloads, payloads):
    form = load_handler(HANDLER).post_payload(own_payloads / "form-issue-opened.json")
    as_json = load_handler(HANDLER).post_payload(payloads / "issue-opened.json")
    assert form.ok, form.error
    assert without_time(calls(form)[0]) == SENDER
    assert stable(form.messages) == stable(as_json.messages)


def test_form_encoded_delivery_is_signed_as_sent(load_handler, own_payloads):
    body = load_payload(own_payloads / "form-issue-opened.json").body
    github = load_handler(HANDLER, settings={"webhookSecret": "s3cret"})
    headers = {"X-GitHub-Event": "issues", "Content-Type": "application/x-www-form-urlencoded"}
    good = github.post(body, headers={**headers, "X-Hub-Signature-256": signed(body, "s3cret")})
    bad = github.post(body, headers={**headers, "X-Hub-Signature-256": signed(body, "x")})
    assert good.ok, good.error
    assert bad.error.type == "MessageRejected"


def test_form_without_a_json_payload_is_rejected(load_handler):
    github = load_handler(HANDLER)
    missing = github.post(data={"other": "1"}, headers={"X-GitHub-Event": "issues"})
    broken = github.post(data={"payload": "{"}, headers={"X-GitHub-Event": "issues"})
    assert missing.error.type == broken.error.type == "MessageRejected"
    assert "payload parameter is missing" in missing.error.message
    assert "payload parameter is not JSON" in broken.error.message
