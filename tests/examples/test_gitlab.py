from pathlib import Path

SOURCE = "gitlab"
HANDLER = Path(__file__).resolve().parents[2] / "examples" / "gitlab.py"


def calls(result):
    return [{k: v for k, v in m.items() if k not in ("messageId", "context")}
            for m in result.messages]


def test_issue_closed_by_the_user_who_updated_it(load_handler, own_payloads):
    result = load_handler(HANDLER).post_payload(own_payloads / "issue-closed.json")
    assert result.ok, result.error
    assert calls(result) == [
        {"type": "identify", "userId": "670043", "timestamp": "2016-08-18T18:14:13.000Z",
         "traits": {"username": "tomaszkolek0", "name": "Tomasz Kolek",
                    "avatar": "https://secure.gravatar.com/avatar/"
                              "116a6fdbcfd00466297a39174da11fbb?s=80&d=identicon"}},
        {"type": "track", "userId": "670043", "event": "Issue Closed",
         "timestamp": "2016-08-18T18:14:13.000Z",
         "properties": {"issue_id": "2788274", "issue_number": 1, "title": "Issue title_new",
                        "state": "closed", "confidential": False,
                        "url": "https://gitlab.com/tomaszkolek0/my-awesome-project/issues/1",
                        "project": "tomaszkolek0/my-awesome-project",
                        "project_id": "1534233"}},
    ]


def test_issue_opened_by_its_author(load_handler, own_payloads):
    result = load_handler(HANDLER).post_payload(own_payloads / "issue-opened.json")
    assert result.ok, result.error
    assert [m["userId"] for m in result.messages] == ["1129123", "1129123"]
    assert result.tracks[0]["event"] == "Issue Opened"
    assert result.tracks[0]["timestamp"] == "2018-03-23T17:35:53.000Z"


def test_a_current_delivery_names_the_user_by_id(load_handler):
    body = {"object_kind": "issue", "user": {"id": 1, "username": "root",
                                            "email": "admin@example.com"},
            "object_attributes": {"id": 301, "iid": 23, "action": "reopen",
                                  "updated_by_id": 99, "updated_at": "2024-03-01T10:00:00Z"},
            "labels": [{"id": 206, "title": "API"}]}
    result = load_handler(HANDLER).post(json=body)
    assert result.ok, result.error
    assert [m["userId"] for m in result.messages] == ["1", "1"]
    assert result.identifies[0]["traits"] == {"username": "root",
                                              "email": "admin@example.com"}
    assert result.tracks[0]["event"] == "Issue Reopened"
    assert result.tracks[0]["properties"]["labels"] == ["API"]


def test_every_payload_runs(load_handler, payload):
    result = load_handler(HANDLER).post_payload(payload)
    assert result.ok, result.error


def test_unsupported_hooks_and_actions(load_handler):
    gitlab = load_handler(HANDLER)
    push = gitlab.post(json={"object_kind": "push"}, headers={"X-Gitlab-Event": "Push Hook"})
    assert push.error.type == "UnsupportedEventType"
    assert "'push'" in push.error.message
    moved = gitlab.post(json={"object_kind": "issue",
                              "object_attributes": {"id": 1, "action": "move"}})
    assert moved.error.type == "UnsupportedEventType"


def test_an_issue_naming_no_actor_is_refused(load_handler):
    result = load_handler(HANDLER).post(json={"object_kind": "issue", "object_attributes": {
        "id": 1, "action": "close"}})
    assert result.error.type == "MessageRejected"
    assert "user.id is missing" in result.error.message
