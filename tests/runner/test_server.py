"""The server's bounds and its stop: idle sockets are closed, SIGTERM drains and says so."""

from __future__ import annotations

import json
import logging
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from runner.app import create_app
from runner.runtime import Runtime
from runner.server import http_server
from runner.source import Source
from runner.store import DATABASE_FILE
from segfn.sandbox.compiler import Handler
from segfn.sandbox.egress import Egress, EgressPolicy
from segfn.sandbox.fleet import Fleet
from segfn.sandbox.pool import WorkerPool
from tests.runner.destination import Answer, FaultyDestination
from tests.runner.harness import wait_until
from tests.stored import connect

HANDLER = '''
def on_request(request, settings):
    Segment.track({"event": "Hit", "userId": "u", "properties": {"n": request.json()["n"]}})
'''


def test_connections_that_send_nothing_are_closed(start_runner) -> None:
    runner = start_runner(HANDLER, "--header-timeout", "0.5")
    idle = [socket.create_connection(("127.0.0.1", runner.port)) for _ in range(50)]
    half = socket.create_connection(("127.0.0.1", runner.port))
    half.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")  # headers begun, never ended
    try:
        for sock in [*idle, half]:
            sock.settimeout(5)
            assert sock.recv(1) == b"", "the server kept an idle connection open"
    finally:
        for sock in [*idle, half]:
            sock.close()
    # A sender that does send is served as before, on a connection held past the timeout.
    with httpx.Client(base_url=runner.url, timeout=5) as client:
        assert client.post("", json={"n": 1}).status_code == 200
        time.sleep(0.8)
        assert client.post("", json={"n": 2}).status_code == 200


def test_past_the_connection_limit_senders_are_told_to_come_back(start_runner) -> None:
    runner = start_runner(HANDLER, "--max-connections", "4", "--header-timeout", "30")
    idle = [socket.create_connection(("127.0.0.1", runner.port)) for _ in range(6)]
    try:
        time.sleep(0.2)
        answer = runner.post({"n": 1}, timeout=5)
        assert answer.status_code == 503
    finally:
        for sock in idle:
            sock.close()
    time.sleep(0.2)
    assert runner.post({"n": 2}).status_code == 200


def test_sigterm_drains_the_outbox_prints_stopped_and_exits_0(
        start_runner, destination: FaultyDestination) -> None:
    destination.default = Answer(stall=1.0)
    runner = start_runner(HANDLER, "--segment-endpoint", destination.url, "--write-key", "k")
    for n in range(3):
        assert runner.post({"n": n}).status_code == 200
    assert runner.process is not None
    runner.process.send_signal(signal.SIGTERM)
    assert runner.process.wait(20) == 0
    runner._collector.join(5)
    assert any("segfn run: stopped" in line for line in runner.output), runner.output
    assert sorted(m["properties"]["n"] for m in destination.taken) == [0, 1, 2]


class Upstream(ThreadingHTTPServer):
    """What a handler fetches: down (503) the first time, then slow (1.5 s) but up."""

    def __init__(self) -> None:
        self.calls = 0

        class Handler(BaseHTTPRequestHandler):
            def do_GET(handler) -> None:  # noqa: N805 - the server is self here
                self.calls += 1
                if self.calls > 1:
                    time.sleep(1.5)
                handler.send_response(503 if self.calls == 1 else 200)
                handler.send_header("Content-Length", "0")
                handler.end_headers()

            def log_message(handler, *args: object) -> None:  # noqa: N805
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


RETRIED = '''
def on_request(request, settings):
    if not fetch("http://127.0.0.1:{port}/").ok:
        raise RetryError("the upstream is down")
    Segment.track({{"event": "Hit", "userId": "u"}})
'''


def test_sigterm_lets_a_running_retry_finish_and_it_never_runs_again(
        start_runner, tmp_path) -> None:
    upstream = Upstream()
    handler = RETRIED.format(port=upstream.server_address[1])
    data_dir = tmp_path / "data"
    try:
        runner = start_runner(handler, "--retry-time-scale", "0.001", data_dir=data_dir)
        assert runner.post({}).status_code == 202  # a retry is queued
        wait_until(lambda: upstream.calls == 2)  # the retry runs, and waits on its fetch
        assert runner.process is not None
        runner.process.send_signal(signal.SIGTERM)
        assert runner.process.wait(20) == 0
        runner._collector.join(5)
        assert any("segfn run: stopped" in line for line in runner.output), runner.output
        db = connect(data_dir / DATABASE_FILE)
        assert [json.loads(m)["event"] for (m,) in db.execute("SELECT message FROM events")
                ] == ["Hit"]
        assert not db.execute("SELECT * FROM retries").fetchall()
        assert not db.execute("SELECT * FROM errors").fetchall()
        # Started again on the same data, it finds nothing to run again.
        again = start_runner(handler, "--retry-time-scale", "0.001", data_dir=data_dir)
        time.sleep(1.0)
        assert again.process is not None and again.process.poll() is None
        assert upstream.calls == 2
    finally:
        upstream.shutdown()
        upstream.server_close()


def test_deliveries_while_stopping_are_answered_503(tmp_path) -> None:
    source = Source("src_1", "fn", Handler(HANDLER))
    runtime = Runtime(tmp_path, Fleet(lambda _: WorkerPool(1), 1), Egress(EgressPolicy()),
                      lambda _: source)
    app = create_app(runtime, lambda path: source if path == "/" else None)
    with TestClient(app) as client:
        assert client.post("/", json={"n": 1}).status_code == 200
        runtime.stop_taking()
        answer = client.post("/", json={"n": 2})
        assert answer.status_code == 503
        assert answer.json()["error"]["type"] == "Stopping"
        assert int(answer.headers["retry-after"]) > 0


def test_a_process_tuned_to_serve_collects_less_and_switches_sooner() -> None:
    # In a process of its own: the tuning is for good, and no test process should have it.
    probe = ("import gc, json, sys\n"
             "from runner.server import tune_interpreter\n"
             "loaded = [[] for _ in range(1000)]\n"
             "tune_interpreter()\n"
             "print(json.dumps([gc.get_freeze_count(), gc.get_threshold(),"
             " sys.getswitchinterval()]))")
    frozen, threshold, interval = json.loads(subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout)
    assert frozen > 1000  # what was loaded, the modules' objects with it
    assert threshold[0] > 700 and interval < 0.005  # Python's defaults


def test_responses_make_no_access_log_records(monkeypatch: pytest.MonkeyPatch) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})

    # Below the server's level, such a record is dropped once made: it is not to be made.
    made: list[tuple[Any, ...]] = []
    monkeypatch.setattr(logging.getLogger("uvicorn.access"), "info",
                        lambda *args, **kwargs: made.append(args))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = http_server(app, "127.0.0.1", port)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, timeout=10)
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 204
    finally:
        server.should_exit = True
        thread.join(10)
    assert made == []
