"""Verification handshakes through a real ``segfn run``: each example answers its provider
as the provider's documentation says, over HTTP; nothing is stored for a handshake; GET
reaches a handler only with ``--allow-get``; a handler that emits and responds, or answers
too much, gets a clear error."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.paths import ROOT
from tests.runner.harness import Runner

Start = Callable[..., Runner]


def example(start_runner: Start, tmp_path: Path, name: str, settings: dict[str, str],
            *args: str) -> Runner:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(settings))
    return start_runner((ROOT / "examples" / f"{name}.py").read_text(), "--settings", str(path),
                        *args, handler_path=tmp_path / f"{name}.py")


def signed(body: bytes, secret: str, names: tuple[str, str]) -> dict[str, str]:
    """Slack's and Zoom's scheme: v0=HMAC of ``v0:{timestamp}:{body}``."""
    stamp = str(int(time.time()))
    digest = hmac.new(secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256)
    return {names[0]: stamp, names[1]: "v0=" + digest.hexdigest(),
            "Content-Type": "application/json"}


def stored(runner: Runner) -> list[dict[str, object]]:
    return runner.segfn("events")["events"]


def test_slack_url_verification_echoes_the_challenge_and_get_is_refused(
        start_runner: Start, tmp_path: Path) -> None:
    runner = example(start_runner, tmp_path, "slack_events", {"signingSecret": "slack-s"})
    body = json.dumps({"token": "Jhj5dZrVaK7ZwHHjRyZWjbDl", "type": "url_verification",
                       "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}
                      ).encode()
    names = ("X-Slack-Request-Timestamp", "X-Slack-Signature")
    answer = runner.post(content=body, headers=signed(body, "slack-s", names))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}
    forged = runner.post(content=body, headers=signed(body, "guess", names))
    assert forged.status_code == 400 and forged.json()["error"]["type"] == "MessageRejected"
    # Without --allow-get, a GET is what it always was.
    get = httpx.get(runner.url, params={"challenge": "x"}, timeout=15)
    assert get.status_code == 405 and get.headers["allow"] == "POST"
    assert stored(runner) == []


def test_zoom_url_validation_answers_the_encrypted_token(start_runner: Start,
                                                          tmp_path: Path) -> None:
    runner = example(start_runner, tmp_path, "zoom", {"secretToken": "zoom-secret"})
    body = json.dumps({"payload": {"plainToken": "qgg8vlvZRS6UYooatFL8Aw"},
                       "event_ts": 1654503849680, "event": "endpoint.url_validation"}).encode()
    answer = runner.post(content=body, headers=signed(
        body, "zoom-secret", ("x-zm-request-timestamp", "x-zm-signature")))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    expected = hmac.new(b"zoom-secret", b"qgg8vlvZRS6UYooatFL8Aw", hashlib.sha256).hexdigest()
    assert answer.json() == {"plainToken": "qgg8vlvZRS6UYooatFL8Aw", "encryptedToken": expected}
    assert stored(runner) == []


def test_meta_hub_challenge_get_with_allow_get(start_runner: Start, tmp_path: Path) -> None:
    runner = example(start_runner, tmp_path, "meta", {"verifyToken": "meatyhamhock"},
                     "--allow-get")
    query = {"hub.mode": "subscribe", "hub.challenge": "1158201444",
             "hub.verify_token": "meatyhamhock"}
    answer = httpx.get(runner.url, params=query, timeout=15)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/plain; charset=utf-8"
    assert answer.text == "1158201444"
    wrong = httpx.get(runner.url, params={**query, "hub.verify_token": "guess"}, timeout=15)
    assert wrong.status_code == 400
    assert "hub.verify_token does not match" in wrong.json()["error"]["message"]
    # POST is checked as ever, and still answered {"ok": true}.
    assert runner.post(content=b"{}", headers={"Content-Type": "text/csv"}).status_code == 415
    delivery = json.loads((ROOT / "tests" / "examples" / "payloads" / "meta"
                           / "message-received.json").read_text())["payload"]["body"]
    posted = runner.post(delivery)
    assert (posted.status_code, posted.json()) == (200, {"ok": True})
    assert [e["message"]["type"] for e in stored(runner)] == ["identify", "track"]
    assert httpx.request("PUT", runner.url, timeout=15).status_code == 405


RESPONDER = '''
def on_request(request, settings):
    body = request.json()
    if body.get("emit"):
        Segment.track({"userId": "u1", "event": "Emitted"})
    if body.get("big"):
        return respond(text="x" * 5000)
    if body.get("plain"):
        return "a value that is not respond(...)"
    return respond(json={"echo": body.get("echo")})
'''


def test_a_handler_that_emits_and_responds_or_answers_too_much_fails_clearly(
        start_runner: Start) -> None:
    runner = start_runner(RESPONDER)
    both = runner.post({"emit": True, "echo": 1})
    assert both.status_code == 400
    assert both.json()["error"]["type"] == "BadRequest"
    assert "both emitted and returned respond(...)" in both.json()["error"]["message"]
    big = runner.post({"big": True})
    assert big.status_code == 400
    assert "at most 4096 bytes" in big.json()["error"]["message"]
    assert "line" not in big.json()["error"]["message"]  # the sender learns no line
    plain = runner.post({"plain": True})
    assert (plain.status_code, plain.json()) == (200, {"ok": True})
    echo = runner.post({"echo": "é"})
    assert (echo.status_code, echo.json()) == (200, {"echo": "é"})
    assert stored(runner) == []
