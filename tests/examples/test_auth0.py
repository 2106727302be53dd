import json
from pathlib import Path

from segfn import anonymous_id
from segfn.payloads import load_payload

SOURCE = "auth0"
HANDLER = Path(__file__).resolve().parents[2] / "examples" / "auth0.py"


def calls(result):
    return [{k: v for k, v in m.items() if k not in ("messageId", "context")}
            for m in result.messages]


def test_failed_signup_is_anonymous_to_the_typed_email(load_handler, payloads):
    result = load_handler(HANDLER).post_payload(payloads / "failed_signup.json")
    assert result.ok, result.error
    who = {"anonymousId": anonymous_id("test@test.com")}
    assert calls(result) == [
        {"type": "identify", **who, "traits": {"email": "test@test.com"},
         "timestamp": "2022-11-15T15:52:14.849Z"},
        {"type": "track", **who, "event": "Sign Up Failed",
         "timestamp": "2022-11-15T15:52:14.849Z", "properties": {
             "log_id": "90020221115155219994170187923660936391033852283976679442",
             "log_type": "fs", "description": "Password is too weak",
             "connection": "Username-Password-Authentication",
             "client_id": "Kx6QHMecjr7ItYzXjKKHNbwq1KWPQ7FB", "client_name": "All Applications",
             "strategy": "auth0", "ip": "35.167.74.121"}},
    ]


def test_management_api_call_is_the_dashboard_users(load_handler, payloads):
    result = load_handler(HANDLER).post_payload(payloads / "success_api_operation.json")
    assert result.ok, result.error
    identify, track = result.messages
    assert identify["userId"] == track["userId"] == "auth0|63738f471560b8c9769a7952"
    assert identify["traits"] == {"email": "spencer.attick@segment.com"}
    assert track["event"] == "Management API Called"
    assert track["properties"]["path"] == "/api/v2/tenants/checks"


def test_a_batch_emits_what_it_can_and_logs_the_rest(load_handler, payloads):
    log = json.loads(load_payload(payloads / "failed_signup.json").body)
    login = {"log_id": "9002", "data": {"type": "s", "user_id": "auth0|42",
                                         "user_name": "ada@example.com",
                                         "date": "2024-01-02T03:04:05.000Z"}}
    rate = {"log_id": "9003", "data": {"type": "limit_wc", "description": "Blocked"}}
    result = load_handler(HANDLER).post(json=[log, login, rate])
    assert result.ok, result.error
    assert [t["event"] for t in result.tracks] == ["Sign Up Failed", "Signed In"]
    assert result.tracks[1]["userId"] == "auth0|42"
    assert list(result.logs) == ["skipped log type 'limit_wc' (Blocked)"]


def test_every_payload_runs(load_handler, payload):
    result = load_handler(HANDLER).post_payload(payload)
    assert result.ok, result.error


def test_nothing_supported_and_nobody_named_are_refused(load_handler):
    auth0 = load_handler(HANDLER)
    unsupported = auth0.post(json={"log_id": "1", "data": {"type": "seccft"}})
    assert unsupported.error.type == "UnsupportedEventType"
    nobody = auth0.post(json={"log_id": "1", "data": {"type": "s", "user_id": ""}})
    assert nobody.error.type == "MessageRejected"
    assert "names no user_id and no email" in nobody.error.message
    shapeless = auth0.post(json=[{"log_id": "1"}])
    assert shapeless.error.type == "MessageRejected"
