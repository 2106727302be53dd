"""``segfn run`` as a user drives it: reload, Ctrl-C, environment, ``segfn events --tail``."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.runner.harness import (
    SEGFN,
    FakeSegment,
    Runner,
    basic_user,
    free_port,
    wait_until,
)

TRACK = '''
def on_request(request, settings):
    Segment.track({"event": settings.get("event", "First Version"), "userId": "u1",
                   "properties": request.json()})
'''


def events(runner: Runner) -> list[str]:
    return [e["message"]["event"] for e in runner.segfn("events")["events"]]


def test_reload_picks_up_code_and_settings(start_runner, tmp_path) -> None:
    settings = tmp_path / "settings.json"
    settings.write_text("{}")
    runner = start_runner(TRACK, "--reload", "--settings", str(settings))
    runner.post({"n": 1})
    settings.write_text(json.dumps({"event": "Second Version"}))
    wait_until(lambda: any("reloaded" in line for line in runner.output))
    runner.post({"n": 2})
    runner.handler.write_text(TRACK.replace('"First Version"', '"Third Version"'))
    time.sleep(0.1)
    settings.write_text("{}")
    wait_until(lambda: sum("reloaded" in line for line in runner.output) >= 2)
    runner.post({"n": 3})
    assert wait_until(lambda: len(events(runner)) == 3 and events(runner)) == [
        "First Version", "Second Version", "Third Version"]


def test_a_reload_that_does_not_compile_keeps_the_previous_version_serving(start_runner
                                                                           ) -> None:
    runner = start_runner(TRACK, "--reload")
    runner.handler.write_text("def on_request(request, settings)\n    pass\n")
    reason = wait_until(lambda: [x for x in runner.output if "syntax error" in x])
    assert reason == [f"{runner.handler}:1: syntax error: expected ':'"]
    wait_until(lambda: any("still serving its previous version" in x for x in runner.output))
    assert runner.post({"n": 1}).status_code == 200
    assert events(runner) == ["First Version"]
    runner.handler.write_text(TRACK.replace('"First Version"', '"Fixed"'))
    wait_until(lambda: any(x == f"reloaded {runner.handler}" for x in runner.output))
    assert runner.post({"n": 2}).status_code == 200
    assert wait_until(lambda: len(events(runner)) == 2 and events(runner)) == [
        "First Version", "Fixed"]


def test_an_edit_of_the_settings_alone_says_settings_reloaded(start_runner, tmp_path
                                                               ) -> None:
    settings = tmp_path / "settings.json"
    settings.write_text("{}")
    runner = start_runner(TRACK, "--reload", "--settings", str(settings))
    settings.write_text(json.dumps({"event": "Second Version"}))
    wait_until(lambda: f"settings reloaded from {settings}" in runner.output)
    assert not any(line.startswith("reloaded") for line in runner.output)
    runner.post({"n": 1})
    assert wait_until(lambda: events(runner)) == ["Second Version"]


def start_refused(tmp_path: Path, source: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``segfn run`` on ``source``, expected to stop by itself."""
    handler = tmp_path / "handler.py"
    handler.write_text(source)
    return subprocess.run([*SEGFN, "run", str(handler), "--data-dir", str(tmp_path / "data"),
                           *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "NO_COLOR": "1"})


@pytest.mark.parametrize(("source", "reason"), [
    ("def on_request(request, settings)\n    pass\n", ":1: syntax error: expected ':'"),
    ("def on_request(request, settings):\n    import requests\n",
     ":2: module 'requests' is not available to functions; fetch(url, ...) makes HTTP "
     "requests, with no import"),
    ("import json\nfrom os import path\ndef on_request(request, settings):\n    pass\n",
     ":2: module 'os' is not available to functions"),
    ("def handle(request, settings):\n    pass\n", ":1: no on_request function"),
    ("def on_request(request, settings):\n    return request._body\n",
     ':2: "_body" is not available to functions'),
])
def test_a_handler_that_cannot_run_is_not_served(tmp_path: Path, source: str,
                                                 reason: str) -> None:
    port = free_port()
    done = start_refused(tmp_path, source, "--port", str(port))
    assert done.returncode == 2, done.stderr
    first = done.stderr.splitlines()[0]
    assert first.startswith(f"{tmp_path / 'handler.py'}{reason}"), done.stderr
    assert "not served" in done.stderr and "segfn run:" not in done.stdout
    assert not (tmp_path / "data").exists()


def test_with_reload_a_handler_that_cannot_run_is_served_until_fixed(start_runner) -> None:
    runner = start_runner("def on_request(request, settings):\n    import os\n", "--reload")
    assert any(line.endswith("module 'os' is not available to functions; available: "
                             + line.split("available: ")[-1]) for line in runner.output)
    response = runner.post({"n": 1})
    assert response.status_code == 500
    assert "'os' is not available" in response.json()["error"]["message"]
    runner.handler.write_text(TRACK)
    wait_until(lambda: f"reloaded {runner.handler}" in runner.output)
    assert runner.post({"n": 2}).status_code == 200


def test_a_busy_port_says_so_and_names_the_option(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = start_refused(tmp_path, TRACK, "--port", str(port))
    assert done.returncode != 0
    assert f"port {port} on 127.0.0.1 is in use" in done.stderr
    assert "--port" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_ctrl_c_shuts_down_cleanly_and_keeps_accepted_work(start_runner) -> None:
    runner = start_runner(TRACK)
    for n in range(5):
        assert runner.post({"n": n}).status_code == 200
    assert runner.stop() == 0
    restarted = start_runner(TRACK, data_dir=runner.data_dir)
    assert len(events(restarted)) == 5


def test_destination_from_the_environment(tmp_path, fake_segment: FakeSegment) -> None:
    handler = tmp_path / "handler.py"
    handler.write_text(TRACK)
    runner = Runner(handler, tmp_path / "data", [])
    os.environ["SEGFN_SEGMENT_ENDPOINT"] = fake_segment.url
    os.environ["SEGFN_WRITE_KEY"] = "from-env"
    try:
        runner.start()
    finally:
        del os.environ["SEGFN_SEGMENT_ENDPOINT"], os.environ["SEGFN_WRITE_KEY"]
    try:
        runner.post({"n": 1})
        wait_until(lambda: fake_segment.messages)
        assert basic_user(fake_segment.auth[0]) == "from-env"
        assert any(fake_segment.url in line for line in runner.output)
    finally:
        runner.kill()


def test_events_tail_prints_events_as_they_arrive(start_runner) -> None:
    runner = start_runner(TRACK)
    runner.post({"n": 1})
    tail = subprocess.Popen([*SEGFN, "events", "--tail", "--json", "--data-dir",
                             str(runner.data_dir)], stdout=subprocess.PIPE, text=True)
    try:
        assert tail.stdout is not None
        first = json.loads(tail.stdout.readline())
        runner.post({"n": 2})
        second = json.loads(tail.stdout.readline())
        assert [first["message"]["properties"], second["message"]["properties"]] == [
            {"n": 1}, {"n": 2}]
    finally:
        tail.send_signal(signal.SIGTERM)
        tail.wait(5)


def test_a_handler_cannot_post_to_its_own_webhook(start_runner) -> None:
    source = '''
def on_request(request, settings):
    body = request.json()
    if body.get("loop"):
        fetch(body["url"], method="POST", json={"loop": True, "url": body["url"]})
'''
    runner = start_runner(source)
    for url in (runner.url, f"http://localhost:{runner.port}/"):
        response = runner.post({"loop": True, "url": url})
        assert response.status_code == 400
        assert "own webhooks" in response.json()["error"]["message"]


@pytest.mark.parametrize("spelling", [
    "http://[::ffff:127.0.0.1]:{port}/", "http://0x7f000001:{port}/", "http://0.0.0.0:{port}/",
    "http://127.0.0.1:{port}/x",
])
def test_a_handler_cannot_reach_its_own_webhook_however_the_url_is_spelled(
        start_runner, spelling: str) -> None:
    # No loop here: before the fix the inner call answered 200 and so did the outer.
    source = '''
def on_request(request, settings):
    url = request.json().get("url")
    if url:
        fetch(url, method="POST", json={})
'''
    runner = start_runner(source)
    response = runner.post({"url": spelling.format(port=runner.port)})
    assert response.status_code == 400, response.text
    assert "unable to send data back to their own webhooks" in response.json()["error"][
        "message"]


def test_link_local_is_refused_even_in_development(start_runner) -> None:
    source = '''
def on_request(request, settings):
    fetch("http://169.254.169.254/latest/meta-data/")
'''
    runner = start_runner(source)
    response = runner.post({})
    assert response.status_code == 400
    assert "link-local" in response.json()["error"]["message"]


def test_missing_write_key_is_a_usage_error(tmp_path) -> None:
    handler = tmp_path / "handler.py"
    handler.write_text(TRACK)
    done = subprocess.run([*SEGFN, "run", str(handler), "--segment-endpoint",
                           "http://127.0.0.1:9"], capture_output=True, text=True,
                          env={k: v for k, v in os.environ.items()
                               if not k.startswith("SEGFN_")})
    assert done.returncode == 2
    assert "--write-key" in done.stderr


def test_a_second_runner_on_the_same_data_dir_is_refused(start_runner: Any, tmp_path: Path
                                                         ) -> None:
    first = start_runner(HANDLER_FOR_LOCK)
    with pytest.raises(AssertionError, match="is in use by process"):
        start_runner(HANDLER_FOR_LOCK, data_dir=first.data_dir)
    assert first.post({}).status_code == 200
    first.kill()
    # A crash frees the data dir: the kernel drops the lock with the process.
    assert start_runner(HANDLER_FOR_LOCK, data_dir=first.data_dir).post({}).status_code == 200


HANDLER_FOR_LOCK = "def on_request(request, settings):\n    pass\n"


CHATTY = '''
def on_request(request, settings):
    body = request.json()
    console.log("got", body["n"])
    for k in range(body.get("extra", 0)):
        print("extra", k)
    if body.get("fail"):
        raise ValueError("bad n")
    Segment.track({"event": "Seen", "userId": "u1"})
'''


def lines_after(runner: Runner, head: str, count: int) -> list[str]:
    """The ``count`` lines after the first line of the output that starts with ``head``."""
    def found() -> list[str] | None:
        for index, line in enumerate(runner.output):
            if line.startswith(head) and len(runner.output) > index + count:
                return runner.output[index + 1:index + 1 + count]
        return None
    return wait_until(found)


def test_each_invocation_shows_what_the_handler_logged_under_its_line(start_runner) -> None:
    runner = start_runner(CHATTY)
    assert runner.post({"n": 1}).status_code == 200
    assert lines_after(runner, "200 ok", 1) == ["  │ got 1"]
    assert runner.post({"n": 2, "fail": True}).status_code == 400
    assert lines_after(runner, "400 BadRequest", 1) == ["  │ got 2"]
    assert runner.post({"n": 3, "extra": 40}).status_code == 200
    # 41 lines: the first 20 are shown, then a note of the rest.
    tail = wait_until(lambda: [line for line in runner.output if line.startswith("  … ")])
    assert tail == ["  … 21 more log lines not shown"]
    shown = runner.output[runner.output.index(tail[0]) - 20:runner.output.index(tail[0])]
    assert shown == ["  │ got 3"] + [f"  │ extra {k}" for k in range(19)]


def test_quiet_leaves_the_log_lines_out(start_runner) -> None:
    runner = start_runner(CHATTY, "--quiet")
    assert runner.post({"n": 1}).status_code == 200
    assert runner.post({"n": 2}).status_code == 200
    wait_until(lambda: sum(line.startswith("200 ok") for line in runner.output) == 2)
    assert not any("got" in line for line in runner.output)


def test_refusals_get_a_line(start_runner) -> None:
    runner = start_runner(CHATTY, "--rate-limit", "1")
    assert httpx.get(runner.url, timeout=5).status_code == 405
    assert runner.post(content=b"x", headers={"Content-Type": "text/plain"}
                       ).status_code == 415
    assert runner.post(content=b"x" * (512 * 1024 + 1),
                       headers={"Content-Type": "application/json"}).status_code == 413
    statuses = [runner.post({"n": n}).status_code for n in range(5)]
    assert 429 in statuses
    for head in ("405 MethodNotAllowed", "415 ", "413 ", "429 RateLimited"):
        line = wait_until(lambda h=head: [x for x in runner.output if x.startswith(h)])[0]
        assert line.endswith("(refused, nothing ran)"), line


FAILING = '''
def on_request(request, settings):
    body = request.json()
    if body.get("key"):
        return {}[body["key"]]
    if body.get("setting"):
        return settings[body["setting"]]
    while body.get("spin"):
        pass
'''


def run_line(runner: Runner, fragment: str) -> str:
    return wait_until(lambda: [x for x in runner.output if fragment in x])[0]


def test_the_runs_line_names_file_and_line_and_the_answer_no_line(start_runner) -> None:
    runner = start_runner(FAILING)
    answer = runner.post({"key": "nope"})
    assert answer.json()["error"] == {"type": "BadRequest", "message": "KeyError: 'nope'"}
    assert run_line(runner, "KeyError").endswith(
        f"{runner.handler}:5: KeyError: 'nope'  (in segfn errors)")
    [logged] = runner.segfn("errors")["errors"]
    assert logged["error"]["message"] == f"{runner.handler}:5: KeyError: 'nope'"


def test_a_body_that_is_not_json_says_so_with_one_position(start_runner) -> None:
    runner = start_runner(FAILING)
    answer = runner.post(content=b"{oops", headers={"Content-Type": "application/json"})
    message = answer.json()["error"]["message"]
    assert message == ("BodyError: request body is not JSON: Expecting property name "
                       "enclosed in double quotes at character 1")
    line = run_line(runner, "BodyError")
    assert f"{runner.handler}:3: BodyError: request body is not JSON" in line
    assert "line" not in line.replace(str(runner.handler), "")


def test_a_missing_setting_suggests_the_settings_option(start_runner) -> None:
    runner = start_runner(FAILING)
    answer = runner.post({"setting": "apiKey"})
    assert answer.status_code == 500
    reason = "setting 'apiKey' is not set; give it in --settings FILE (a JSON object)"
    assert answer.json()["error"]["message"] == reason
    assert run_line(runner, "apiKey").endswith(f"{runner.handler}:7: {reason}  (in segfn errors)")


def test_a_timeout_names_the_limit(start_runner) -> None:
    runner = start_runner(FAILING, "--timeout", "0.5")
    answer = runner.post({"spin": True})
    assert answer.status_code == 202
    assert answer.json()["error"] == {"type": "Timeout",
                                      "message": "the function ran past its time limit of 0.5 s"}
    # The run's line says where the handler was stuck.
    line = run_line(runner, "time limit")
    assert re.search(f"{re.escape(str(runner.handler))}:[89]: the function ran past its time "
                     r"limit of 0\.5 s  \(will retry\)$", line), line


SELF_FETCH = """
def on_request(request, settings):
    fetch(request.json()["url"])
"""


def test_with_port_0_the_chosen_port_is_announced_and_is_the_runners_own(
        tmp_path: Path) -> None:
    handler = tmp_path / "handler.py"
    handler.write_text(SELF_FETCH)
    runner = Runner(handler, tmp_path / "data", [])
    runner.port = 0
    runner.start()
    try:
        assert runner.port != 0
        answer = runner.post({"url": runner.url + "again"})
        assert answer.status_code == 400
        assert "is this runner" in answer.json()["error"]["message"]
    finally:
        runner.stop()
