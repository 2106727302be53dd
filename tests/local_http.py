"""A real HTTP server on 127.0.0.1 for tests that fetch: it can delay, echo, fail and count.

Routes:

- ``/echo``: the request as JSON (``method``, ``path``, ``headers`` lower-cased, ``body``)
- ``/sleep/<ms>``: answers ``slept`` after ``ms`` milliseconds (``peak_sleeping`` counts
  how many were in progress at once)
- ``/status/<code>``: that status, a JSON body ``{"status": code}`` and ``X-Test: yes``
- ``/bytes/<n>``: ``n`` bytes, without a Content-Length (read until the connection closes);
  ``streamed`` counts the bytes of every such response sent so far
"""

from __future__ import annotations

import collections
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_CHUNK = 64 * 1024


class _Handler(BaseHTTPRequestHandler):
    server: LocalServer

    def do_GET(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output clean

    def _route(self) -> None:
        self.server.hits[self.path] += 1
        parts = self.path.strip("/").split("/")
        if parts[0] == "echo":
            length = int(self.headers.get("Content-Length") or 0)
            self._json(200, {"method": self.command, "path": self.path,
                             "headers": {k.lower(): v for k, v in self.headers.items()},
                             "body": self.rfile.read(length).decode()})
        elif parts[0] == "sleep":
            with self.server.lock:
                self.server.sleeping += 1
                self.server.peak_sleeping = max(self.server.peak_sleeping,
                                                self.server.sleeping)
            time.sleep(int(parts[1]) / 1000)
            with self.server.lock:
                self.server.sleeping -= 1
            self._send(200, b"slept", "text/plain")
        elif parts[0] == "status":
            self._json(int(parts[1]), {"status": int(parts[1])}, {"X-Test": "yes"})
        elif parts[0] == "bytes":
            self._stream(int(parts[1]))
        else:
            self._send(404, b"no such route", "text/plain")

    def _json(self, status: int, value: object, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(value).encode(), "application/json", headers)

    def _send(self, status: int, body: bytes, content_type: str,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _stream(self, size: int) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        chunk = b"x" * _CHUNK
        sent = 0
        try:
            while sent < size:
                part = chunk[:size - sent]
                self.wfile.write(part)
                sent += len(part)
                with self.server.lock:
                    self.server.streamed += len(part)
        except OSError:
            pass  # the client stopped reading: what the size cap is for


class LocalServer(ThreadingHTTPServer):
    daemon_threads = True
    # A fetch_all opens its connections at once; the default backlog of 5 would drop some.
    request_queue_size = 128

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.hits: collections.Counter[str] = collections.Counter()
        self.streamed = 0
        self.connections = 0  # accepted, whatever was sent on them
        # How many /sleep requests were in progress at once, at most.
        self.lock = threading.Lock()
        self.sleeping = 0
        self.peak_sleeping = 0

    def verify_request(self, request: object, client_address: object) -> bool:
        self.connections += 1
        return True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that hung up early (a timed-out fetch) is expected here

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@contextmanager
def local_server() -> Iterator[LocalServer]:
    server = LocalServer()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
