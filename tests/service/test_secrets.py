"""Encrypted settings: encrypted at rest, never returned, logged or stored in clear."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from runner.service.keyring import Keyring, generate_key
from tests.runner.harness import SEGFN, wait_until
from tests.service.harness import Serve
from tests.stored import connect

SECRET = "sk_live_9f8e7d6c5b4a"
LEAKY = """
from segfn import Segment, console

def on_request(request, settings):
    console.log("calling the API with " + settings["apiKey"])
    if request.json().get("fail"):
        raise ValueError("the API refused key " + settings["apiKey"])
    Segment.track({"event": "Called", "userId": settings["account"]})
"""
SCHEMA = [{"label": "API Key", "encrypted": True, "required": True}, {"label": "Account"}]


def files_under(directory: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in directory.rglob("*") if path.is_file()}


def connect_leaky(serve: Serve) -> dict[str, Any]:
    assert serve.api("POST", "/functions", json={"name": "leaky", "code": LEAKY,
                                                 "settings_schema": SCHEMA}).status_code == 201
    answer = serve.api("POST", "/sources", json={
        "name": "prod", "function": "leaky",
        "settings": {"apiKey": SECRET, "account": "acme"}})
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_secret_values_appear_in_no_answer_log_or_file(start_serve: Any, tmp_path: Path
                                                       ) -> None:
    key = generate_key()
    serve = start_serve(env={"SEGFN_SECRET_KEY": key})
    answers = []

    def call(method: str, path: str, **kwargs: Any) -> httpx.Response:
        answer = serve.api(method, path, **kwargs)
        answers.append(answer.text)
        return answer

    source = connect_leaky(serve)
    assert source["secrets"] == {"apiKey": "set"}
    assert source["settings"] == {"account": "acme"}
    answers.append(serve.webhook(source, {"fail": False}).text)
    failed = serve.webhook(source, {"fail": True})
    answers.append(failed.text)
    assert failed.json()["error"]["message"] == (
        "ValueError: the API refused key [redacted]")
    call("PATCH", "/sources/prod", json={"settings": {"account": "globex"}})
    call("GET", "/sources/prod")
    call("GET", "/sources")
    errors = call("GET", "/sources/prod/errors").json()["errors"]
    assert errors[0]["logs"] == ["calling the API with [redacted]"]
    call("GET", "/functions/leaky/errors")
    tested = call("POST", "/functions/leaky/test", json={
        "payload": {"body": {"fail": True}}, "settings": {"apiKey": SECRET, "account": "a"}})
    assert tested.json()["logs"] == ["calling the API with [redacted]"]
    assert SECRET not in "".join(answers)

    # The webhook still ran with the real value: the key reached the handler.
    assert "[redacted]" in errors[0]["error"]["message"]
    assert serve.stop() == 0
    assert not [line for line in serve.output if SECRET in line]
    stored = files_under(tmp_path / "data")
    assert any(p.name == "catalog.db" for p in stored)
    assert [p for p, data in stored.items() if SECRET.encode() in data] == []

    db = connect(tmp_path / "data" / "catalog.db")
    sealed = json.loads(db.execute("SELECT secrets FROM sources").fetchone()[0])
    assert Keyring.from_text(key).decrypt(sealed["apiKey"]) == SECRET


def test_token_secrets_are_stored_hashed(start_serve: Any, tmp_path: Path) -> None:
    serve = start_serve()
    created = serve.api("POST", "/tokens", json={
        "name": "ci", "roles": [{"role": "functions_read", "functions": None}]}).json()
    assert serve.api("GET", "/whoami", created["secret"]).status_code == 200
    listed = serve.api("GET", "/tokens").text
    serve.stop()
    for secret in (serve.owner_token, created["secret"]):
        assert secret not in listed
        assert not [p for p, data in files_under(tmp_path / "data").items()
                    if secret.encode() in data]


def test_the_service_will_not_start_without_the_key_once_a_secret_is_stored(
        start_serve: Any, tmp_path: Path) -> None:
    key = generate_key()
    serve = start_serve(env={"SEGFN_SECRET_KEY": key})
    connect_leaky(serve)
    serve.stop()
    for env, reason in (({}, "no secret key to read the encrypted settings stored; start "
                             "segfn serve with the key in SEGFN_SECRET_KEY or "
                             "--secret-key-file"),
                        ({"SEGFN_SECRET_KEY": generate_key()}, "does not decrypt")):
        with pytest.raises(AssertionError, match=reason):
            start_serve(env=env)
    restarted = start_serve(env={"SEGFN_SECRET_KEY": key})
    assert restarted.api("GET", "/sources/prod", serve.owner_token).json()["secrets"] == {
        "apiKey": "set"}


def test_without_a_key_encrypted_values_are_refused_not_stored_in_clear(
        start_serve: Any) -> None:
    serve = start_serve()
    serve.api("POST", "/functions", json={"name": "leaky", "code": LEAKY,
                                          "settings_schema": SCHEMA})
    refused = serve.api("POST", "/sources", json={"name": "prod", "function": "leaky",
                                                  "settings": {"apiKey": SECRET}})
    assert refused.status_code == 422
    assert "SEGFN_SECRET_KEY" in refused.json()["error"]["message"]
    assert serve.api("GET", "/sources").json()["sources"] == []


def test_key_rotation_re_encrypts_every_value(start_serve: Any, tmp_path: Path) -> None:
    old, new = generate_key(), generate_key()
    serve = start_serve(env={"SEGFN_SECRET_KEY": old})
    source = connect_leaky(serve)
    # An errors-log entry, whose original request is kept sealed under the old key.
    assert serve.webhook(source, {"fail": True}).status_code == 400
    serve.stop()
    key_file = tmp_path / "keys"
    key_file.write_text(f"{new},{old}")
    rotated = subprocess.run([*SEGFN, "admin", "rotate-key", "--data-dir",
                              str(tmp_path / "data"), "--secret-key-file", str(key_file)],
                             capture_output=True, text=True)
    assert rotated.returncode == 0, rotated.stderr
    assert "re-encrypted 1 secret setting value" in rotated.stdout
    assert "re-encrypted 1 request(s) the errors log keeps for retries" in rotated.stdout

    with pytest.raises(AssertionError, match="does not decrypt"):
        start_serve(env={"SEGFN_SECRET_KEY": old})
    token = serve.owner_token
    serve = start_serve(env={"SEGFN_SECRET_KEY": new})
    # The same source on a new port: its webhook token is what stays.
    hook = serve.url + "fn/" + source["webhook_url"].rsplit("/", 1)[1]
    before = serve.api("GET", "/sources/prod/errors", token).json()["errors"]
    assert httpx.post(hook, json={"fail": True}).status_code == 400
    logged = wait_until(lambda: serve.api("GET", "/sources/prod/errors", token).json()[
        "errors"])
    assert logged[0]["logs"] == ["calling the API with [redacted]"]
    # The entry logged under the old key is retried with the new key alone.
    retried = serve.api("POST", "/sources/prod/errors/retry", token,
                        json={"ids": [before[0]["id"]]}).json()
    assert [q["id"] for q in retried["queued"]] == [before[0]["id"]], retried


def test_a_new_data_dir_is_readable_by_the_operator_only(start_serve: Any, tmp_path: Path
                                                         ) -> None:
    start_serve(data_dir=tmp_path / "fresh")
    assert (tmp_path / "fresh").stat().st_mode & 0o777 == 0o700


def test_one_service_a_data_dir(start_serve: Any, tmp_path: Path) -> None:
    serve = start_serve()
    with pytest.raises(AssertionError, match="is in use by process"):
        start_serve(data_dir=serve.data_dir)
    assert serve.api("GET", "/whoami").status_code == 200

