"""The server's bounds and its stop: idle sockets are closed, SIGTERM drains and says so."""

from __future__ import annotations

import signal
import socket
import time

import httpx
from starlette.testclient import TestClient

from runner.app import create_app
from runner.runtime import Runtime
from runner.source import Source
from segfn.sandbox.compiler import Handler
from segfn.sandbox.egress import Egress, EgressPolicy
from segfn.sandbox.fleet import Fleet
from segfn.sandbox.pool import WorkerPool
from tests.runner.destination import Answer, FaultyDestination

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
