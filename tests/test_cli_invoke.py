"""``segfn invoke`` as a user runs it: the installed console script, in a subprocess.

Every test starts the real command, which starts a real sandbox worker, so what is
checked here is the whole path from flags to exit code.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
PAYLOADS = Path("/work/shared/payloads")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
JSON_KEYS = {"ok", "messages", "objects", "logs", "error", "duration_ms", "reply"}
MAX_BODY = 512 * 1024


def _segfn_command() -> list[str]:
    # The script of the interpreter running the tests first: that is the checkout's.
    beside = Path(sys.executable).with_name("segfn")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("segfn")
    if found:
        return [found]
    return [sys.executable, "-c", "from segfn.cli import main; main()"]


SEGFN = _segfn_command()


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("NO_COLOR", "FORCE_COLOR", "CLICOLOR_FORCE")}
    # The checkout comes first on the path, so the command runs the code under test even
    # when the editable install was made before a package (runner) was added.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def segfn(*args: str | Path, input: bytes | None = None, cwd: Path | None = None,
          env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*SEGFN, *map(str, args)], input=input, capture_output=True,
                          cwd=cwd, env=env or _env(), timeout=timeout)


def text(process: subprocess.CompletedProcess) -> tuple[str, str]:
    return process.stdout.decode("utf-8"), process.stderr.decode("utf-8")


def as_json(process: subprocess.CompletedProcess) -> dict[str, Any]:
    """stdout as the one JSON object ``--json`` promises, with exactly the documented keys."""
    document = json.loads(process.stdout)
    assert isinstance(document, dict)
    assert set(document) == JSON_KEYS
    return document


# A handler that reports everything it received in the properties of one track call.
ECHO = '''
def on_request(request, settings):
    form = None
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        parsed = request.form()
        form = {name: parsed.get_all(name) for name in parsed}
    Segment.track({
        "event": "Echo",
        "anonymousId": "echo",
        "properties": {
            "body": request.text(),
            "size": len(request.raw_body),
            "headers": {name: request.headers.get_all(name) for name in request.headers.keys()},
            "contentType": request.headers.get("Content-Type"),
            "url": request.url.href,
            "query": [list(pair) for pair in request.url.search_params],
            "a": request.url.search_params.get("a"),
            "form": form,
            "settings": settings.to_dict(),
        },
    })
'''


# A handler that only says how many bytes it received.
SIZER = '''
def on_request(request, settings):
    Segment.track({"anonymousId": "payloads", "event": "Received",
                   "properties": {"size": len(request.raw_body)}})
'''


@pytest.fixture
def echo(tmp_path: Path) -> Path:
    path = tmp_path / "echo.py"
    path.write_text(ECHO)
    return path


def write(path: Path, content: str | bytes | Any) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content)
    else:
        path.write_text(json.dumps(content))
    return path


def echoed(process: subprocess.CompletedProcess) -> dict[str, Any]:
    """What the echo handler saw, from ``--json`` output of a successful run."""
    assert process.returncode == 0, process.stderr.decode()
    document = as_json(process)
    assert document["ok"] is True and document["error"] is None
    [message] = document["messages"]
    return message["properties"]


# Inputs


def test_body_from_a_file_with_the_default_content_type(echo: Path, tmp_path: Path) -> None:
    body = write(tmp_path / "body.json", '{"id": 7, "name": "Zoë"}')
    seen = echoed(segfn("invoke", echo, "--body", body, "--json"))
    assert seen["body"] == '{"id": 7, "name": "Zoë"}'
    assert seen["contentType"] == "application/json"
    assert seen["url"] == "http://localhost/"
    assert seen["settings"] == {}


def test_body_from_stdin(echo: Path) -> None:
    seen = echoed(segfn("invoke", echo, "--body", "-", "--json", input=b'{"from": "stdin"}'))
    assert seen["body"] == '{"from": "stdin"}'


def test_no_body_is_an_empty_body(echo: Path) -> None:
    seen = echoed(segfn("invoke", echo, "--json"))
    assert seen["size"] == 0


def test_headers_are_repeatable_and_keep_colons_in_values(echo: Path) -> None:
    seen = echoed(segfn("invoke", echo, "--json", "--header", "X-GitHub-Event: issues",
                        "--header", "X-Callback:http://example.test:8080/x",
                        "--header", "X-Tag: a", "--header", "x-tag: b"))
    assert seen["headers"]["x-github-event"] == ["issues"]
    assert seen["headers"]["x-callback"] == ["http://example.test:8080/x"]
    # Two flags with one name are two header lines, as curl -H sends them.
    assert seen["headers"]["x-tag"] == ["a", "b"]


def test_form_body_is_read_with_request_form(echo: Path, tmp_path: Path) -> None:
    body = write(tmp_path / "form.txt", "name=Ada+Lovelace&tag=a&tag=b&empty=")
    seen = echoed(segfn("invoke", echo, "--json", "--body", body,
                        "--content-type", "application/x-www-form-urlencoded"))
    assert seen["contentType"] == "application/x-www-form-urlencoded"
    assert seen["form"] == {"name": ["Ada Lovelace"], "tag": ["a", "b"], "empty": [""]}


def test_content_type_parameters_are_accepted(echo: Path) -> None:
    seen = echoed(segfn("invoke", echo, "--json",
                        "--content-type", "application/json; charset=utf-8"))
    assert seen["contentType"] == "application/json; charset=utf-8"


def test_query_is_read_from_search_params(echo: Path) -> None:
    seen = echoed(segfn("invoke", echo, "--json", "--query", "a=1&b=2&b=3"))
    assert seen["url"] == "http://localhost/?a=1&b=2&b=3"
    assert seen["a"] == "1"
    assert seen["query"] == [["a", "1"], ["b", "2"], ["b", "3"]]


def test_url_is_the_request_url(echo: Path) -> None:
    seen = echoed(segfn("invoke", echo, "--json", "--url", "https://hooks.example.test/in?a=9"))
    assert seen["url"] == "https://hooks.example.test/in?a=9"
    assert seen["a"] == "9"


def test_query_replaces_the_query_of_url(echo: Path) -> None:
    seen = echoed(segfn("invoke", echo, "--json", "--url", "https://example.test/in?a=9",
                        "--query", "a=1"))
    assert seen["url"] == "https://example.test/in?a=1"


def test_settings_file(echo: Path, tmp_path: Path) -> None:
    settings = write(tmp_path / "settings.json", {"apiKey": "k-1", "retries": 3, "on": True})
    seen = echoed(segfn("invoke", echo, "--json", "--settings", settings))
    assert seen["settings"] == {"apiKey": "k-1", "retries": 3, "on": True}


def test_invocation_id_makes_message_ids_reproducible(tmp_path: Path) -> None:
    handler = write(tmp_path / "two.py", '''
def on_request(request, settings):
    Segment.identify({"userId": "u1", "traits": {"plan": "pro"}})
    Segment.track({"userId": "u1", "event": "Signed Up"})
''')
    runs = [as_json(segfn("invoke", handler, "--json", "--invocation-id", "inv-42"))
            for _ in range(2)]
    first, second = ([m["messageId"] for m in run["messages"]] for run in runs)
    assert first == second
    assert len(set(first)) == 2 and all("inv-42" in mid for mid in first)
    # Without the flag each run is a new invocation with new ids.
    other = as_json(segfn("invoke", handler, "--json"))
    assert not set(first) & {m["messageId"] for m in other["messages"]}


# --json


def test_json_success_document(tmp_path: Path) -> None:
    handler = write(tmp_path / "h.py", '''
def on_request(request, settings):
    console.log("hello", 1)
    Segment.set({"collection": "users", "id": "u1", "properties": {"plan": "pro"}})
    Segment.track({"userId": "u1", "event": "Done"})
''')
    process = segfn("invoke", handler, "--json")
    assert process.returncode == 0
    document = as_json(process)
    assert document["ok"] is True
    assert document["error"] is None
    assert document["logs"] == ["hello 1"]
    assert document["objects"] == [{"collection": "users", "id": "u1",
                                    "properties": {"plan": "pro"}}]
    assert [m["type"] for m in document["messages"]] == ["track"]
    assert isinstance(document["duration_ms"], int | float) and document["duration_ms"] >= 0
    assert process.stderr == b""


# Errors: the handler ran and failed, exit 1 whatever the type.

ERRORS = {
    "BadRequest": ('def on_request(request, settings):\n    request.json()\n', ()),
    "InvalidSettings": ('def on_request(request, settings):\n    settings["apiKey"]\n', ()),
    "MessageRejected": ('def on_request(request, settings):\n'
                        '    raise ValidationError("no user in this delivery")\n', ()),
    "UnsupportedEventType": ('def on_request(request, settings):\n'
                             '    raise EventNotSupported("ping is not supported")\n', ()),
    "MessageTooLarge": ('def on_request(request, settings):\n'
                        '    Segment.track({"userId": "u", "event": "Big",\n'
                        '                   "properties": {"blob": "x" * 40000}})\n', ()),
    "Retry": ('def on_request(request, settings):\n'
              '    raise RetryError("upstream is down, try later")\n', ()),
    "Timeout": ('def on_request(request, settings):\n'
                '    Segment.track({"userId": "u", "event": "Early"})\n'
                '    while True:\n        pass\n', ("--timeout", "0.5")),
}


@pytest.mark.parametrize("kind", list(ERRORS))
def test_every_handler_error_exits_1_with_its_type(kind: str, tmp_path: Path) -> None:
    source, flags = ERRORS[kind]
    handler = write(tmp_path / "failing.py", source)
    process = segfn("invoke", handler, "--json", *flags)
    assert process.returncode == 1, process.stderr
    document = as_json(process)
    assert document["ok"] is False
    assert set(document["error"]) == {"type", "message", "where"}
    assert document["error"]["type"] == kind
    assert document["error"]["message"]
    # Emission is all-or-nothing: a handler that fails emits nothing.
    assert document["messages"] == [] and document["objects"] == []
    # The reason also goes to stderr, for a reader at a terminal, said once.
    err = process.stderr.decode()
    assert err.startswith(f"{kind}: ") and not err.startswith(f"{kind}: {kind}:")
    assert document["error"]["message"] in err


@pytest.mark.parametrize("kind", ["MessageRejected", "Retry", "Timeout"])
def test_error_in_readable_output(kind: str, tmp_path: Path) -> None:
    source, flags = ERRORS[kind]
    handler = write(tmp_path / "failing.py", source)
    process = segfn("invoke", handler, *flags)
    assert process.returncode == 1
    out, _ = text(process)
    assert kind in out
    assert "failing.py" in out
    if kind == "MessageRejected":
        assert "failing.py:2: ValidationError: no user in this delivery" in out
    assert not ANSI.search(out)


# Never reached: exit 2, nothing on stdout, the reason on stderr.


def _never(tmp_path: Path) -> Path:
    # Were it ever run, this handler would make the command exit 1, not 2.
    return write(tmp_path / "never.py",
                 'def on_request(request, settings):\n    raise RetryError("ran")\n')


NOT_REACHED: dict[str, tuple[Sequence[str], str]] = {
    "missing handler": (("invoke", "{tmp}/absent.py"), "absent.py"),
    "unknown flag": (("invoke", "{handler}", "--bogus"), "--bogus"),
    "header without colon": (("invoke", "{handler}", "--header", "X-Token abc"), "--header"),
    "header with a space in its name": (("invoke", "{handler}", "--header", "X Token: a"),
                                        "--header"),
    "empty header name": (("invoke", "{handler}", "--header", ": a"), "--header"),
    "missing settings file": (("invoke", "{handler}", "--settings", "{tmp}/none.json"),
                              "--settings"),
    "settings not JSON": (("invoke", "{handler}", "--settings", "{tmp}/bad.json"),
                          "not valid JSON"),
    "settings not an object": (("invoke", "{handler}", "--settings", "{tmp}/list.json"),
                               "expected a JSON object"),
    "missing body file": (("invoke", "{handler}", "--body", "{tmp}/none.json"), "--body"),
    "missing payload file": (("invoke", "{handler}", "--payload", "{tmp}/none.json"),
                             "--payload"),
    "payload not JSON": (("invoke", "{handler}", "--payload", "{tmp}/bad.json"),
                         "not valid JSON"),
    "payload without payload": (("invoke", "{handler}", "--payload", "{tmp}/list.json"),
                                "payload"),
    "payload headers not an object": (("invoke", "{handler}", "--payload",
                                       "{tmp}/payload-headers.json"), "headers"),
    "payload query not an object": (("invoke", "{handler}", "--payload",
                                     "{tmp}/payload-query.json"), "query"),
    "text/plain": (("invoke", "{handler}", "--content-type", "text/plain"), "text/plain"),
    "text/plain header": (("invoke", "{handler}", "--header", "Content-Type: text/plain"),
                          "415"),
    "body over 512 KiB": (("invoke", "{handler}", "--body", "{tmp}/big.json"), "413"),
    "relative url": (("invoke", "{handler}", "--url", "/hooks/in"), "--url"),
    "timeout too small": (("invoke", "{handler}", "--timeout", "0"), "--timeout"),
}


@pytest.mark.parametrize("case", list(NOT_REACHED))
def test_requests_that_never_reach_the_handler_exit_2(case: str, tmp_path: Path) -> None:
    handler = _never(tmp_path)
    write(tmp_path / "bad.json", "{not json")
    write(tmp_path / "list.json", [1, 2])
    write(tmp_path / "payload-headers.json", {"payload": {"body": {}, "headers": ["a"]}})
    write(tmp_path / "payload-query.json", {"payload": {"body": {}, "queryParams": "a=1"}})
    write(tmp_path / "big.json", b'"' + b"x" * MAX_BODY + b'"')
    args, reason = NOT_REACHED[case]
    args = [a.format(tmp=tmp_path, handler=handler) for a in args]
    # With --json too, stdout stays empty: there is no invocation to describe.
    process = segfn(*args, "--json")
    assert process.returncode == 2, (process.stdout, process.stderr)
    out, err = text(process)
    assert out == ""
    assert reason in err


@pytest.mark.parametrize("args", [("--content-type", "text/xml"), ("--header", "nocolon")])
def test_never_reached_without_json(args: tuple[str, ...], tmp_path: Path) -> None:
    process = segfn("invoke", _never(tmp_path), *args)
    assert process.returncode == 2
    out, err = text(process)
    assert out == ""
    assert args[1] in err and not ANSI.search(err)


def test_body_over_the_limit_on_stdin_exits_2(tmp_path: Path) -> None:
    process = segfn("invoke", _never(tmp_path), "--body", "-", input=b"x" * (MAX_BODY + 1))
    assert process.returncode == 2
    assert "413" in process.stderr.decode()


def test_body_of_exactly_the_limit_is_delivered(tmp_path: Path) -> None:
    handler = write(tmp_path / "size.py", SIZER)
    body = write(tmp_path / "limit.json", b'"' + b"x" * (MAX_BODY - 2) + b'"')
    process = segfn("invoke", handler, "--json", "--body", body)
    assert process.returncode == 0, process.stderr
    assert as_json(process)["messages"][0]["properties"]["size"] == MAX_BODY


# --payload


def payload_file(tmp_path: Path, payload: dict[str, Any],
                 settings: dict[str, Any] | None = None) -> Path:
    document: dict[str, Any] = {"payload": payload}
    if settings is not None:
        document["settings"] = settings
    return write(tmp_path / "payload.json", document)


def test_payload_object_body_is_sent_as_json_dumps(echo: Path, tmp_path: Path) -> None:
    body = {"b": [1, 2.5, None], "a": {"é": "ü"}}
    seen = echoed(segfn("invoke", echo, "--json", "--payload",
                        payload_file(tmp_path, {"body": body})))
    # Exactly json.dumps: its separators, its ASCII escapes, the key order as written.
    assert seen["body"] == json.dumps(body)
    assert seen["contentType"] == "application/json"


def test_payload_string_body_is_sent_as_its_utf8_bytes(echo: Path, tmp_path: Path) -> None:
    payload = {"body": "name=Zo%C3%AB&city=K\u00f6ln",
               "headers": {"Content-Type": ["application/x-www-form-urlencoded"]}}
    seen = echoed(segfn("invoke", echo, "--json", "--payload", payload_file(tmp_path, payload)))
    assert seen["body"] == "name=Zo%C3%AB&city=Köln"
    assert seen["size"] == len("name=Zo%C3%AB&city=Köln".encode())
    assert seen["form"] == {"name": ["Zoë"], "city": ["Köln"]}


def test_payload_null_body_is_empty(echo: Path, tmp_path: Path) -> None:
    seen = echoed(segfn("invoke", echo, "--json", "--payload",
                        payload_file(tmp_path, {"body": None})))
    assert seen["size"] == 0


@pytest.mark.parametrize("key", ["queryParameters", "queryParams"])
def test_payload_query(key: str, echo: Path, tmp_path: Path) -> None:
    seen = echoed(segfn("invoke", echo, "--json", "--payload",
                        payload_file(tmp_path, {"body": {}, key: {"a": "1", "b": "x y"}})))
    assert seen["a"] == "1"
    assert seen["query"] == [["a", "1"], ["b", "x y"]]


def test_payload_url(echo: Path, tmp_path: Path) -> None:
    payload = {"body": {}, "url": "https://hooks.example.test/p?a=5"}
    seen = echoed(segfn("invoke", echo, "--json", "--payload", payload_file(tmp_path, payload)))
    assert seen["url"] == "https://hooks.example.test/p?a=5"


def test_payload_headers_as_lists_and_strings(echo: Path, tmp_path: Path) -> None:
    payload = {"body": {}, "headers": {"Content-Type": ["application/json"],
                                       "Accept-Encoding": ["gzip, deflate", "identity"],
                                       "X-Event": "push"}}
    seen = echoed(segfn("invoke", echo, "--json", "--payload", payload_file(tmp_path, payload)))
    assert seen["contentType"] == "application/json"
    assert seen["headers"]["accept-encoding"] == ["gzip, deflate", "identity"]
    assert seen["headers"]["x-event"] == ["push"]


def test_payload_settings(echo: Path, tmp_path: Path) -> None:
    seen = echoed(segfn("invoke", echo, "--json", "--payload",
                        payload_file(tmp_path, {"body": {}}, {"apiKey": "from-payload"})))
    assert seen["settings"] == {"apiKey": "from-payload"}


def test_flags_override_the_payload(echo: Path, tmp_path: Path) -> None:
    payload = payload_file(
        tmp_path,
        {"body": {"from": "payload"}, "headers": {"X-Token": ["old"], "X-Keep": "kept"},
         "queryParameters": {"a": "payload", "p": "1"}},
        {"apiKey": "payload-key", "region": "eu"})
    settings = write(tmp_path / "settings.json", {"apiKey": "flag-key", "debug": True})
    seen = echoed(segfn("invoke", echo, "--json", "--payload", payload,
                        "--header", "x-token: new", "--settings", settings, "--query", "a=flag"))
    # --header replaces the payload's header whatever its case; the others stay.
    assert seen["headers"]["x-token"] == ["new"]
    assert seen["headers"]["x-keep"] == ["kept"]
    # --settings merges keys over the payload's.
    assert seen["settings"] == {"apiKey": "flag-key", "region": "eu", "debug": True}
    # --query replaces the whole query.
    assert seen["query"] == [["a", "flag"]]
    assert seen["body"] == '{"from": "payload"}'


def test_body_flag_replaces_the_payload_body(echo: Path, tmp_path: Path) -> None:
    body = write(tmp_path / "body.json", '{"from": "flag"}')
    seen = echoed(segfn("invoke", echo, "--json", "--body", body, "--payload",
                        payload_file(tmp_path, {"body": {"from": "payload"}})))
    assert seen["body"] == '{"from": "flag"}'


@pytest.mark.parametrize(("headers", "flags", "expected"), [
    # --content-type wins over the payload's header...
    ({"content-type": ["application/json"]},
     ("--content-type", "application/x-www-form-urlencoded"),
     "application/x-www-form-urlencoded"),
    # ...the header is used when there is no flag...
    ({"content-type": ["application/x-www-form-urlencoded; charset=utf-8"]}, (),
     "application/x-www-form-urlencoded; charset=utf-8"),
    # ...and application/json when neither says.
    ({"X-Other": "1"}, (), "application/json"),
])
def test_payload_content_type(headers: dict[str, Any], flags: tuple[str, ...], expected: str,
                              echo: Path, tmp_path: Path) -> None:
    payload = payload_file(tmp_path, {"body": "a=1", "headers": headers})
    seen = echoed(segfn("invoke", echo, "--json", "--payload", payload, *flags))
    assert seen["contentType"] == expected
    # One Content-Type reaches the handler, never the payload's and the flag's together.
    assert len(seen["headers"]["content-type"]) == 1


def test_payload_with_a_refused_content_type_exits_2(tmp_path: Path) -> None:
    payload = payload_file(tmp_path, {"body": "hi", "headers": {"Content-Type": "text/plain"}})
    process = segfn("invoke", _never(tmp_path), "--payload", payload)
    assert process.returncode == 2
    assert "text/plain" in process.stderr.decode()


# Every shape of recorded delivery loads and reaches the handler.

def _shape(path: Path) -> tuple[Any, ...]:
    payload = json.loads(path.read_text())["payload"]
    headers = payload.get("headers") or {}
    return (path.parent.name, type(payload.get("body")).__name__,
            tuple(sorted({type(v).__name__ for v in headers.values()})),
            tuple(k for k in ("queryParameters", "queryParams", "url") if k in payload),
            any(isinstance(v, list) and len(v) > 1 for v in headers.values()))


def _one_file_per_shape() -> list[Path]:
    # Every file goes through the same loader and sandbox in tests/test_payloads.py; here
    # the command itself runs one file of each provider and shape (body kind, header
    # form, query key), which keeps this test to a couple of dozen processes.
    chosen: dict[tuple[Any, ...], Path] = {}
    for path in sorted(PAYLOADS.glob("**/*.json")):
        chosen.setdefault(_shape(path), path)
    return list(chosen.values())


SAMPLE_PAYLOADS = _one_file_per_shape() if PAYLOADS.is_dir() else []


@pytest.mark.skipif(not SAMPLE_PAYLOADS, reason="no shared payload files here")
def test_shared_payload_files_are_accepted(tmp_path: Path) -> None:
    handler = write(tmp_path / "sizer.py", SIZER)

    def run(path: Path) -> tuple[Path, subprocess.CompletedProcess]:
        return path, segfn("invoke", handler, "--payload", path, "--json", timeout=120)

    # Each run starts its own worker; a few at a time keeps this test short.
    with ThreadPoolExecutor(max_workers=4) as threads:
        results = list(threads.map(run, SAMPLE_PAYLOADS))
    failures = {str(path.relative_to(PAYLOADS)): process.stderr.decode()[-300:]
                for path, process in results if process.returncode != 0}
    assert failures == {}
    for path, process in results:
        [message] = as_json(process)["messages"]
        body = json.loads(path.read_text())["payload"].get("body")
        expected = (b"" if body is None else body.encode() if isinstance(body, str)
                    else json.dumps(body).encode())
        assert message["properties"]["size"] == len(expected), path


# Readable output


def test_readable_output_names_the_event_types(tmp_path: Path) -> None:
    handler = write(tmp_path / "many.py", '''
def on_request(request, settings):
    print("processing", 3, "events")
    console.warn("careful")
    Segment.identify({"userId": "u1", "traits": {"email": "a@example.test"}})
    Segment.track({"userId": "u1", "event": "Order Completed"})
    Segment.group({"userId": "u1", "groupId": "g9"})
    Segment.set({"collection": "orders", "id": "o1", "properties": {"total": 3}})
''')
    process = segfn("invoke", handler)
    assert process.returncode == 0
    out, _ = text(process)
    assert not ANSI.search(out)  # stdout is a pipe here
    assert "ok" in out and "many.py" in out
    assert re.search(r"identify\s+userId=u1", out)
    assert re.search(r"track\s+Order Completed\s+userId=u1", out)
    assert re.search(r"group\s+groupId=g9", out)
    assert re.search(r"set\s+orders/o1", out)
    assert "processing 3 events" in out and "WARN: careful" in out


def test_readable_output_escapes_control_characters(tmp_path: Path) -> None:
    # A handler's text must not reach the terminal as escape sequences.
    handler = write(tmp_path / "esc.py", '''
def on_request(request, settings):
    console.log("\\x1b[2Jcleared")
    Segment.track({"userId": "u1", "event": "Bell\\x07"})
''')
    process = segfn("invoke", handler, "--color")
    assert process.returncode == 0
    out, _ = text(process)
    assert "\x1b[2J" not in out and "\x07" not in out
    assert "\\x1b[2Jcleared" in out and "Bell\\x07" in out


# Colors


def run_in_pty(*args: str | Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run the command with its stdout on a pseudo-terminal; its exit code and output."""
    leader, follower = pty.openpty()
    process = subprocess.Popen([*SEGFN, *map(str, args)], stdout=follower,
                               stderr=subprocess.PIPE, env=env or _env())
    os.close(follower)
    chunks = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 1)
        if not ready:
            if process.poll() is not None:
                break
            continue
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the command closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    code = process.wait(timeout=60)
    assert process.stderr is not None
    process.stderr.close()
    return code, b"".join(chunks).decode("utf-8")


@pytest.fixture
def tracker(tmp_path: Path) -> Path:
    return write(tmp_path / "tracker.py", '''
def on_request(request, settings):
    Segment.track({"userId": "u1", "event": "Colored"})
''')


def test_colors_on_a_terminal(tracker: Path) -> None:
    code, out = run_in_pty("invoke", tracker)
    assert code == 0
    assert ANSI.search(out)
    assert "Colored" in ANSI.sub("", out)


def test_no_color_flag_and_no_color_env_on_a_terminal(tracker: Path) -> None:
    code, out = run_in_pty("invoke", tracker, "--no-color")
    assert code == 0 and "Colored" in out
    assert not ANSI.search(out)
    code, out = run_in_pty("invoke", tracker, env=_env(NO_COLOR="1"))
    assert code == 0 and "Colored" in out
    assert not ANSI.search(out)


def test_color_flag_forces_colors_into_a_pipe(tracker: Path) -> None:
    process = segfn("invoke", tracker, "--color")
    assert process.returncode == 0
    assert ANSI.search(process.stdout.decode())


def test_json_is_never_colored(tracker: Path) -> None:
    code, out = run_in_pty("invoke", tracker, "--json", "--color")
    assert code == 0
    assert not ANSI.search(out)
    assert json.loads(out)["messages"][0]["event"] == "Colored"


# Verification handshakes

HANDSHAKE = '''
def on_request(request, settings):
    if request.method == "GET":
        return respond(text=request.url.search_params.get("hub.challenge"))
    return respond(json={"challenge": request.json()["challenge"]})
'''


def test_a_handshake_answer_is_shown_and_printed_as_reply(tmp_path: Path) -> None:
    handler = write(tmp_path / "handshake.py", HANDSHAKE)
    body = write(tmp_path / "body.json", {"type": "url_verification", "challenge": "c-1"})
    posted = segfn("invoke", handler, "--body", body, "--json")
    assert posted.returncode == 0, posted.stderr.decode()
    assert as_json(posted)["reply"] == {"content_type": "application/json",
                                        "body": '{"challenge":"c-1"}'}
    shown = segfn("invoke", handler, "--method", "GET", "--query",
                  "hub.mode=subscribe&hub.challenge=1158201444", env=_env(NO_COLOR="1"))
    out, err = text(shown)
    assert shown.returncode == 0, err
    assert "respond" in out and "200 text/plain; charset=utf-8  1158201444" in out


def test_a_get_with_a_body_never_reaches_the_handler(tmp_path: Path) -> None:
    handler = write(tmp_path / "handshake.py", HANDSHAKE)
    body = write(tmp_path / "body.json", {"challenge": "c"})
    refused = segfn("invoke", handler, "--method", "GET", "--body", body)
    assert refused.returncode == 2
    assert "a GET has no body" in text(refused)[1]
