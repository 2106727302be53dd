"""The tester endpoint: what ``segfn invoke --json`` prints, on the service's workers."""

from __future__ import annotations

import json
import subprocess
from hashlib import sha256
from typing import Any

import pytest

from tests.paths import PAYLOADS, ROOT
from tests.runner.harness import SEGFN
from tests.service.harness import Serve

ORDER = """
from segfn import Segment, cache, console

def on_request(request, settings):
    body = request.json()
    console.log("keys " + ",".join(body))
    calls = cache.load("calls", 60000, lambda: "first")
    for line in range(int(body.get("lines", 0))):
        console.log(str(line).rjust(99, "."))
    Segment.track({"event": "Seen " + settings.get("tag", ""), "userId": "u",
                   "properties": {"keys": list(body), "cache": calls}})
"""
VOLATILE = ("messageId", "timestamp", "receivedAt", "sentAt")


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Any:
    serve = Serve(tmp_path_factory.mktemp("tester") / "data", []).start()
    answer = serve.api("POST", "/functions", json={
        "name": "order", "code": ORDER, "settings_schema": [{"label": "Tag"}]})
    assert answer.status_code == 201, answer.text
    yield serve
    serve.stop()


def stable(document: dict[str, Any]) -> dict[str, Any]:
    """An invocation's answer without what differs between two runs."""
    messages = [{k: v for k, v in m.items() if k not in VOLATILE}
                for m in document["messages"]]
    return {**document, "messages": messages, "duration_ms": None}


def test_the_tester_answers_what_segfn_invoke_json_prints(serve: Serve, tmp_path: Any
                                                          ) -> None:
    code = (ROOT / "examples" / "github.py").read_text()
    assert serve.api("POST", "/functions", json={"name": "github", "code": code}
                     ).status_code == 201
    payload = PAYLOADS / "github" / "issue-opened.json"
    tested = serve.api("POST", "/functions/github/test",
                       json=json.loads(payload.read_text())).json()
    invoked = subprocess.run([*SEGFN, "invoke", str(ROOT / "examples" / "github.py"),
                              "--payload", str(payload), "--json"],
                             capture_output=True, text=True)
    assert invoked.returncode == 0, invoked.stderr
    assert tested.pop("logs_truncated") is False
    assert stable(tested) == stable(json.loads(invoked.stdout))
    assert [m["type"] for m in tested["messages"]] == ["identify", "track"]


def test_keys_stay_as_sent_the_cache_starts_empty_and_nothing_is_delivered(
        serve: Serve) -> None:
    source = serve.api("POST", "/sources", json={"name": "live", "function": "order"}).json()
    body = '{"zebra": 1, "apple": 2}'
    for _ in range(2):
        tested = serve.api("POST", "/functions/order/test", json={
            "payload": {"body": body}, "settings": {"tag": "t"}}).json()
        assert tested["ok"] is True, tested
        assert tested["logs"] == ["keys zebra,apple"]
        # A fresh cache each time: never the previous test's value.
        assert tested["messages"][0]["properties"] == {"keys": ["zebra", "apple"],
                                                       "cache": "first"}
    assert serve.api("GET", "/sources/live/events").json()["events"] == []

    # A deployed source sees keys alphabetized (SPEC 7) and its events are stored.
    assert serve.webhook(source, content=body,
                         headers={"Content-Type": "application/json"}).status_code == 200
    stored = serve.api("GET", "/sources/live/events").json()["events"]
    assert stored[0]["message"]["properties"]["keys"] == ["apple", "zebra"]


def test_logs_are_cut_to_their_first_4_kib(serve: Serve) -> None:
    tested = serve.api("POST", "/functions/order/test", json={
        "payload": {"body": {"lines": 200}}}).json()
    assert tested["logs_truncated"] is True
    assert sum(len(line.encode()) for line in tested["logs"]) <= 4096
    assert 30 < len(tested["logs"]) < 200
    assert tested["logs"][1] == "0".rjust(99, ".")


def test_a_chosen_version_runs_and_its_errors_come_back_as_invoke_shows_them(
        serve: Serve) -> None:
    broken = ORDER.replace('"keys " + ",".join(body)', 'body["missing"]')
    assert serve.api("PATCH", "/functions/order", json={"code": broken}).json()["created"]
    failed = serve.api("POST", "/functions/order/test", json={"payload": {"body": {}}})
    assert failed.status_code == 200
    assert failed.json()["error"] == {"type": "BadRequest", "message": "KeyError: 'missing'",
                                      "where": "order.py:6"}
    first = serve.api("POST", "/functions/order/test", json={
        "payload": {"body": {}}, "version": 1}).json()
    assert first["ok"] is True


@pytest.mark.parametrize(("document", "message"), [
    ({"payload": {"body": "x", "headers": {"Content-Type": "text/plain"}}},
     "415 UnsupportedMediaType"),
    ({"payload": {"body": {}}, "settings": {"tag": 5}}, "tag must be a string"),
    ({"payload": {"body": {}}, "settings": {"nope": 1}}, "nope"),
    ({"payload": []}, "payload must be an object"),
])
def test_requests_the_webhook_would_refuse_are_refused_with_why(
        serve: Serve, document: dict[str, Any], message: str) -> None:
    refused = serve.api("POST", "/functions/order/test", json=document)
    assert refused.status_code == 400
    assert message in refused.json()["error"]["message"]


def test_code_not_yet_saved_runs_with_the_versions_schema_for_an_editor_only(
        serve: Serve) -> None:
    draft = ORDER.replace('"Seen "', '"Draft "')
    tested = serve.api("POST", "/functions/order/test", json={
        "payload": {"body": {}}, "settings": {"tag": "x"}, "code": draft}).json()
    assert tested["messages"][0]["event"] == "Draft x"
    versions = serve.api("GET", "/functions/order/versions").json()["versions"]
    assert all(v["code_sha256"] != sha256(draft.encode()).hexdigest() for v in versions)

    broken = serve.api("POST", "/functions/order/test", json={
        "payload": {"body": {}}, "code": "def on_request(request, settings)\n"})
    assert broken.status_code == 422, broken.text
    assert broken.json()["error"]["type"] == "CompileError"
    assert "order.py:1" in broken.json()["error"]["message"]

    reader = serve.api("POST", "/tokens", json={
        "name": "reader", "roles": [{"role": "functions_read"}]}).json()["secret"]
    assert serve.api("POST", "/functions/order/test", token=reader, json={
        "payload": {"body": {}}}).status_code == 200
    refused = serve.api("POST", "/functions/order/test", token=reader, json={
        "payload": {"body": {}}, "code": draft})
    assert refused.status_code == 403, refused.text
