"""Test harness: a real ``segfn run`` on loopback and a fake Segment Tracking API."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

SEGFN = [str(Path(sys.executable).parent / "segfn")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# For the redrive tests: BROKEN fails every order; FIXED tracks it, with a secret header's
# value, which the errors log shows redacted: only the original request, kept, gives it back.
BROKEN = """
def on_request(request, settings):
    raise ValueError("no such field: " + request.json()["user"])
"""
FIXED = """
def on_request(request, settings):
    Segment.track({"event": "Order", "userId": request.json()["user"],
                   "properties": {"token": request.headers.get("X-Api-Token")}})
"""
TRACK = """
def on_request(request, settings):
    Segment.identify({"userId": "u1", "traits": {"plan": "pro"}})
    Segment.track({"event": "Upgraded", "userId": "u1"})
"""


def wait_until(condition: Callable[[], Any], timeout: float = 20.0, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout} s")


class FakeSegment:
    """``POST /v1/batch`` that records what it got, answering as the test says.

    ``answers`` is a list of (status, headers) used one per request, then 200s.
    """

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.batches: list[dict[str, Any]] = []
        self.auth: list[str] = []
        self.answers: list[tuple[int, dict[str, str]]] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Every message taken (answered 2xx), in arrival order."""
        return [m for b in self.batches if b["status"] < 300 for m in b["body"]["batch"]]

    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status, headers = fake.answers.pop(0) if fake.answers else (200, {})
                fake.auth.append(self.headers.get("Authorization", ""))
                fake.batches.append({"path": self.path, "status": status, "body": body})
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class Runner:
    """A ``segfn run`` subprocess serving one handler file."""

    def __init__(self, handler: Path, data_dir: Path, args: list[str]) -> None:
        self.handler = handler
        self.data_dir = data_dir
        self.args = args
        self.port = free_port()
        self.process: subprocess.Popen[str] | None = None
        self.output: list[str] = []
        self.env: dict[str, str] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def command(self) -> list[str]:
        return [*SEGFN, "run", str(self.handler), "--port", str(self.port), "--data-dir",
                str(self.data_dir), *self.args]

    def start(self) -> Runner:
        self.process = subprocess.Popen(
            self.command(),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "NO_COLOR": "1", **self.env}, start_new_session=True)
        self._collector = threading.Thread(target=self._collect, args=(self.process,),
                                           daemon=True)
        self._collector.start()
        try:
            wait_until(self._ready)
        except BaseException:
            # Never ready: no fixture knows of it yet, so nothing else would stop it (or
            # what it started, if it exited).
            with contextlib.suppress(ProcessLookupError):
                self.kill()
            raise
        return self

    def _collect(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.output.append(line.rstrip("\n"))

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            self._collector.join(5)  # every line it printed, the reason it exited included
            raise AssertionError(f"{self.command()[1]} exited:\n" + "\n".join(self.output))
        if self.port == 0:  # --port 0: the port the system chose, as the banner says it
            announced = [m for line in self.output
                         if (m := re.search(r" at http://127\.0\.0\.1:(\d+)/", line))]
            if not announced:
                return False
            self.port = int(announced[0][1])
        try:
            return httpx.get(self.url + "healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        """kill -9 the runner and its workers, as a crash would."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode

    def post(self, json_body: Any = None, **kwargs: Any) -> httpx.Response:
        kwargs.setdefault("timeout", 15)
        if json_body is not None:
            kwargs["json"] = json_body
        return httpx.post(self.url, **kwargs)

    def segfn(self, *args: str) -> Any:
        done = subprocess.run([*SEGFN, *args, "--data-dir", str(self.data_dir), "--json"],
                              capture_output=True, text=True, check=True)
        return json.loads(done.stdout)


def basic_user(header: str) -> str:
    return base64.b64decode(header.split(" ", 1)[1]).decode().split(":")[0]
