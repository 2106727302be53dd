from pathlib import Path

SOURCE = "jira"
HANDLER = Path(__file__).resolve().parents[2] / "examples" / "jira.py"
ISSUE = {"issue_id": "10400", "key": "BUG-15", "summary": "New bug with hook", "type": "Bug",
         "status": "Open", "priority": "Major", "project": "BUG"}
LEO = {"name": "Leo Franchi", "email": "othello@zulip.com", "username": "lfranchi"}


def calls(result):
    return [{k: v for k, v in m.items() if k not in ("messageId", "context")}
            for m in result.messages]


def test_issue_created(load_handler, own_payloads):
    result = load_handler(HANDLER).post_payload(own_payloads / "issue-created.json")
    assert result.ok, result.error
    assert calls(result) == [
        {"type": "identify", "userId": "lfranchi", "traits": LEO,
         "timestamp": "2013-03-27T16:53:58.369Z"},
        {"type": "track", "userId": "lfranchi", "event": "Issue Created", "properties": ISSUE,
         "timestamp": "2013-03-27T16:53:58.369Z"},
    ]


def test_issue_deleted_names_its_assignee(load_handler, own_payloads):
    result = load_handler(HANDLER).post_payload(own_payloads / "issue-deleted.json")
    assert result.ok, result.error
    assert result.tracks[0]["event"] == "Issue Deleted"
    assert result.tracks[0]["properties"] == {**ISSUE, "assignee": "lfranchi"}


def test_an_update_is_named_by_its_type_and_cloud_users_by_account_id(load_handler):
    jira = load_handler(HANDLER)
    body = {"webhookEvent": "jira:issue_updated", "timestamp": 1700000000000,
            "user": {"accountId": "5b10ac8d82e05b22cc7d4ef5", "displayName": "Mia"},
            "issue": {"id": "10002", "key": "JRA-20002", "fields": {"labels": ["ui"]}}}
    assigned = jira.post(json={**body, "issue_event_type_name": "issue_assigned"})
    generic = jira.post(json={**body, "issue_event_type_name": "issue_generic"})
    assert assigned.ok, assigned.error
    assert [m["userId"] for m in assigned.messages] == ["5b10ac8d82e05b22cc7d4ef5"] * 2
    assert assigned.tracks[0]["event"] == "Issue Assigned"
    assert assigned.tracks[0]["properties"]["labels"] == ["ui"]
    assert generic.tracks[0]["event"] == "Issue Updated"


def test_every_payload_runs(load_handler, payload):
    result = load_handler(HANDLER).post_payload(payload)
    assert result.ok, result.error


def test_unsupported_event_and_missing_user(load_handler):
    jira = load_handler(HANDLER)
    comment = jira.post(json={"webhookEvent": "comment_created", "comment": {"id": "1"}})
    assert comment.error.type == "UnsupportedEventType"
    assert "'comment_created'" in comment.error.message
    nobody = jira.post(json={"webhookEvent": "jira:issue_created", "issue": {"id": "1"}})
    assert nobody.error.type == "MessageRejected"
    assert "user is missing" in nobody.error.message
