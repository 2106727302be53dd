"""The webhook's answers (SPEC 6, 7, 13) from a real ``segfn run`` on loopback."""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest

from tests.runner.harness import Runner, wait_until

# One handler, many behaviours: the X-Mode header picks one.
HANDLER = '''
import json

def on_request(request, settings):
    mode = request.headers.get("X-Mode", "track")
    if mode == "track":
        body = request.json()
        Segment.track({"event": "Thing Happened", "userId": "u1",
                       "properties": {"keys": list(body.keys()), "n": body.get("n")}})
    elif mode == "raw":
        Segment.track({"event": "Raw", "userId": "u1",
                       "properties": {"raw": request.raw_body.decode("latin-1"),
                                      "text": request.text()}})
    elif mode == "form":
        form = request.form()
        Segment.identify(user_id=form["id"], traits={"tags": form.get_all("tag")})
    elif mode == "invalid":
        Segment.track({"event": "Nope"})
    elif mode == "unsupported":
        raise EventNotSupported("no such event")
    elif mode == "too-large":
        Segment.track({"event": "Big", "userId": "u1", "properties": {"x": "a" * 40000}})
    elif mode == "retry":
        raise RetryError("try later")
    elif mode == "loop":
        while True:
            pass
    elif mode == "crash":
        raise KeyError("boom")
    elif mode == "setting":
        settings.missing
    elif mode == "emit-then-fail":
        Segment.track({"event": "Half", "userId": "u1"})
        raise ValueError("after emitting")
'''


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    base = tmp_path_factory.mktemp("http")
    (base / "handler.py").write_text(HANDLER)
    runner = Runner(base / "handler.py", base / "data",
                    ["--timeout", "1", "--retry-time-scale", "1000", "--read-timeout", "1"])
    runner.start()
    yield runner
    runner.kill()


def error_of(response: httpx.Response) -> dict[str, str]:
    body = response.json()
    assert body["ok"] is False
    assert "Traceback" not in response.text
    return body["error"]


def test_success_is_200_and_stored(runner: Runner) -> None:
    response = runner.post({"b": 1, "a": 2}, headers={"X-Mode": "track"})
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    stored = wait_until(lambda: [e for e in runner.segfn("events")["events"]
                                 if e["message"].get("event") == "Thing Happened"])
    # The deployed endpoint alphabetizes object keys (SPEC 7).
    assert stored[-1]["message"]["properties"]["keys"] == ["a", "b"]


def test_raw_body_and_text_are_exact(runner: Runner) -> None:
    raw = b'{"z": 1,  "a": "caf\xc3\xa9"}'
    response = runner.post(content=raw, headers={"X-Mode": "raw",
                                                 "Content-Type": "application/json"})
    assert response.status_code == 200
    event = wait_until(lambda: [e for e in runner.segfn("events")["events"]
                                if e["message"].get("event") == "Raw"])[-1]
    assert event["message"]["properties"]["raw"] == raw.decode("latin-1")
    assert event["message"]["properties"]["text"] == raw.decode("utf-8")


def test_form_body(runner: Runner) -> None:
    response = runner.post(content=b"id=42&tag=a&tag=b", headers={
        "X-Mode": "form", "Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200


@pytest.mark.parametrize(("mode", "status", "kind"), [
    ("invalid", 400, "MessageRejected"),
    ("unsupported", 400, "UnsupportedEventType"),
    ("too-large", 400, "MessageTooLarge"),
    ("crash", 400, "BadRequest"),
    ("setting", 500, "InvalidSettings"),
    ("retry", 202, "Retry"),
    ("loop", 202, "Timeout"),
])
def test_handler_errors(runner: Runner, mode: str, status: int, kind: str) -> None:
    response = runner.post({"n": 1}, headers={"X-Mode": mode})
    assert response.status_code == status
    assert error_of(response)["type"] == kind


def test_the_answer_names_the_error_but_not_the_handlers_line(runner: Runner) -> None:
    # The line is for the handler's author (segfn errors, the run's output), not the sender.
    error = error_of(runner.post({}, headers={"X-Mode": "crash"}))
    assert error == {"type": "BadRequest", "message": "KeyError: 'boom'"}


def test_emission_is_all_or_nothing(runner: Runner) -> None:
    assert runner.post({}, headers={"X-Mode": "emit-then-fail"}).status_code == 400
    time.sleep(0.3)
    assert not [e for e in runner.segfn("events")["events"]
                if e["message"].get("event") == "Half"]


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_only_post(runner: Runner, method: str) -> None:
    response = httpx.request(method, runner.url)
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert error_of(response)["type"] == "MethodNotAllowed"


def test_unknown_path(runner: Runner) -> None:
    response = httpx.post(runner.url + "elsewhere", json={})
    assert response.status_code == 404
    assert error_of(response)["type"] == "NotFound"


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", None])
def test_content_types_refused(runner: Runner, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = httpx.post(runner.url, content=b"{}", headers=headers)
    assert response.status_code == 415
    assert error_of(response)["type"] == "UnsupportedMediaType"


def test_content_type_parameters_allowed(runner: Runner) -> None:
    response = runner.post(content=b'{"n": 1}',
                           headers={"Content-Type": "application/json; charset=utf-8"})
    assert response.status_code == 200


def test_oversized_body_by_content_length(runner: Runner) -> None:
    response = runner.post(content=b"x" * (512 * 1024 + 1),
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert error_of(response)["type"] == "PayloadTooLarge"


def test_oversized_chunked_body_stops_reading(runner: Runner) -> None:
    def chunks():
        for _ in range(100):
            yield b"x" * 65536

    response = runner.post(content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413


def test_body_at_the_limit_is_read(runner: Runner) -> None:
    body = json.dumps({"pad": "x" * (512 * 1024 - 20)}).encode()
    assert len(body) <= 512 * 1024
    assert runner.post(content=body, headers={"Content-Type": "application/json"}
                       ).status_code == 200


@pytest.mark.parametrize("body", [b"", b"{not json", b'{"a": "\xff\xfe"}', b"[1, 2"])
def test_malformed_bodies_are_bad_requests(runner: Runner, body: bytes) -> None:
    response = runner.post(content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    error = error_of(response)
    assert error["type"] == "BadRequest"
    assert "BodyError" in error["message"]


def test_slow_sender_gets_408(runner: Runner) -> None:
    with socket.create_connection(("127.0.0.1", runner.port)) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{\"a\":")
        sock.settimeout(10)
        received = b""
        # The headers and the body may arrive in separate reads.
        while b"RequestTimeout" not in received and (chunk := sock.recv(4096)):
            received += chunk
        answer = received.decode()
    assert answer.startswith("HTTP/1.1 408")
    assert "RequestTimeout" in answer


def test_errors_log_redacts_secret_headers(runner: Runner) -> None:
    runner.post({"n": 1}, headers={"X-Mode": "crash", "Authorization": "Bearer hunter2",
                                   "X-Api-Token": "tok-123", "X-Plain": "visible"})
    def logged() -> list[dict]:
        return [e for e in runner.segfn("errors")["errors"]
                if any(name.lower() == "x-plain" for name, _ in e["request"]["headers"])]

    entry = wait_until(logged)[0]
    headers = {k.lower(): v for k, v in entry["request"]["headers"]}
    assert headers["authorization"] == "[redacted]"
    assert headers["x-api-token"] == "[redacted]"
    assert headers["x-plain"] == "visible"
    assert "hunter2" not in json.dumps(entry)


def test_healthz(runner: Runner) -> None:
    assert httpx.get(runner.url + "healthz").json()["ok"] is True


def test_one_readable_line_per_invocation(runner: Runner) -> None:
    runner.post({"n": 99}, headers={"X-Mode": "unsupported"})
    line = wait_until(lambda: [x for x in runner.output if "UnsupportedEventType" in x])[-1]
    assert line.startswith("400 UnsupportedEventType")
    assert " ms " in line


def test_rate_limit(start_runner) -> None:
    limited = start_runner(HANDLER, "--rate-limit", "2")
    answers = [limited.post({"n": i}).status_code for i in range(6)]
    assert answers[:2] == [200, 200]
    assert 429 in answers
    refused = next(r for r in (limited.post({"n": 9}) for _ in range(3)) if r.status_code == 429)
    assert int(refused.headers["Retry-After"]) >= 1
    assert error_of(refused)["type"] == "RateLimited"


def _data_segments_in(sock: socket.socket) -> int:
    # struct tcp_info (linux/tcp.h): tcpi_data_segs_in, segments that carried data, since 4.6.
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 160)
    return int.from_bytes(info[152:156], "little")


def test_each_answer_reaches_the_socket_in_one_segment(runner: Runner) -> None:
    """The head and the body of an answer leave in one write, not one each: a system call
    a request saved, and one segment for the sender to read."""
    body = b'{"n": 1}'
    request = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    answers = 5
    with socket.create_connection(("127.0.0.1", runner.port)) as sock:
        sock.settimeout(10)
        for _ in range(answers):
            sock.sendall(request)
            received = b""
            while not (b"\r\n\r\n" in received and received.endswith(b"}")):
                received += sock.recv(4096)
            assert received.startswith(b"HTTP/1.1 200")
        assert _data_segments_in(sock) == answers
