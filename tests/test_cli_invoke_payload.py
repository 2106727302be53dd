"""``segfn invoke`` says nothing but the result when all is well, and refuses a file given
as ``--payload`` that is not a payload file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.local_http import local_server
from tests.test_cli_invoke import ECHO, echoed, segfn, text, write

FETCHER = '''
def on_request(request, settings):
    answer = fetch(settings["url"] + "/echo")
    Segment.track({"userId": "u1", "event": "Fetched", "properties": {"status": answer.status}})
'''


def test_a_run_that_fetched_prints_the_result_and_nothing_else(tmp_path: Path) -> None:
    handler = write(tmp_path / "fetcher.py", FETCHER)
    with local_server() as server:
        settings = write(tmp_path / "settings.json", {"url": server.url})
        done = segfn("invoke", handler, "--settings", settings, "--no-color")
    stdout, stderr = text(done)
    assert done.returncode == 0, stderr
    assert stderr == ""
    assert stdout.splitlines()[0].startswith("✓ ok  fetcher.py")
    assert "Fetched" in stdout and "Unclosed" not in stdout


@pytest.mark.parametrize(("document", "named"), [
    # A GitHub delivery: a raw body that happens to have a "payload" key.
    ({"action": "opened", "payload": {"issue": 1}}, "'action' at the top"),
    ({"payload": {"userId": "u1", "event": "Signed Up"}}, "'event', 'userId' in \"payload\""),
    ({"payload": {"body": {}}, "settings": {}, "setting": {}}, "'setting' at the top"),
    ({"userId": "u1"}, "expected an object with a \"payload\" object"),
])
def test_a_file_that_is_not_a_payload_file_is_refused_with_exit_2(
        document: dict[str, Any], named: str, tmp_path: Path) -> None:
    path = write(tmp_path / "delivery.json", document)
    done = segfn("invoke", write(tmp_path / "echo.py", ECHO), "--payload", path)
    stdout, stderr = text(done)
    assert done.returncode == 2 and stdout == ""
    assert named in stderr, stderr
    assert '{"payload": {"body", "headers", "queryParameters" or "queryParams", "url"}, ' \
           '"settings"}' in " ".join(stderr.split())
    assert "--body FILE" in stderr


def test_a_payload_file_with_every_key_of_the_format_is_read(tmp_path: Path) -> None:
    path = write(tmp_path / "payload.json", {
        "payload": {"body": {"a": 1}, "headers": {"X-A": "1"}, "queryParams": {"q": "2"},
                    "url": "https://example.test/in"},
        "settings": {"apiKey": "k"}})
    seen = echoed(segfn("invoke", write(tmp_path / "echo.py", ECHO), "--payload", path,
                        "--json"))
    assert json.loads(seen["body"]) == {"a": 1} and seen["query"] == [["q", "2"]]
    assert seen["settings"] == {"apiKey": "k"}


def test_the_payload_option_names_the_query_key_the_readme_uses() -> None:
    shown = " ".join(text(segfn("invoke", "--help"))[0].split())
    assert "queryParameters" in shown
