"""A Tracking API on loopback that can fail in every way a real one does.

``FaultyDestination`` takes ``POST /v1/batch`` (and any other path, so that a redirect's
target is recorded too) and answers each request as its rules say, first match wins:

- ``refuse_keys``: a write key mapped to the ``Answer`` every batch under it gets;
- ``refuse_message``: a predicate; a batch holding a message it accepts gets 400;
- ``script``: ``Answer``s used one per request, in order;
- else ``default`` (200 ``{}``).

An ``Answer`` is any status, any body (bytes: not necessarily UTF-8), any headers
(``Retry-After`` in either form, ``Location``), and can ``stall`` before answering or
``drop`` the connection without a word. Every request is recorded, with the write key it
came under and what it was answered.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import attrs


@attrs.frozen
class Answer:
    status: int = 200
    body: bytes = b"{}"
    headers: dict[str, str] = attrs.field(factory=dict)
    stall: float = 0.0
    drop: bool = False


@attrs.frozen
class Received:
    method: str
    path: str
    write_key: str
    messages: list[dict[str, Any]]
    answer: Answer
    at: float = attrs.field(factory=time.monotonic)

    @property
    def taken(self) -> bool:
        return not self.answer.drop and 200 <= self.answer.status < 300


def http_date(seconds_from_now: float) -> str:
    """``Retry-After`` in its HTTP-date form."""
    return format_datetime(datetime.now(UTC) + timedelta(seconds=seconds_from_now),
                           usegmt=True)


def _write_key(header: str) -> str:
    if not header.startswith("Basic "):
        return ""
    return base64.b64decode(header[6:]).decode().split(":", 1)[0]


class FaultyDestination:
    def __init__(self) -> None:
        self.refuse_keys: dict[str, Answer] = {}
        self.refuse_message: Callable[[dict[str, Any]], bool] | None = None
        self.script: list[Answer] = []
        self.default = Answer()
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def taken(self) -> list[dict[str, Any]]:
        """Every message answered 2xx, in arrival order, duplicates included."""
        with self.lock:
            return [m for r in self.received if r.taken for m in r.messages]

    def statuses(self) -> list[int | str]:
        with self.lock:
            return ["drop" if r.answer.drop else r.answer.status for r in self.received]

    def answer(self, write_key: str, messages: list[dict[str, Any]]) -> Answer:
        with self.lock:
            if write_key in self.refuse_keys:
                return self.refuse_keys[write_key]
            if self.refuse_message is not None and any(map(self.refuse_message, messages)):
                return Answer(400, b'{"error": "invalid message"}')
            if self.script:
                return self.script.pop(0)
            return self.default

    def start(self) -> FaultyDestination:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FaultyDestination:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, destination: FaultyDestination) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.destination = destination

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that gave up on a stalled answer


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            messages = json.loads(raw)["batch"] if raw else []
        except (ValueError, KeyError, TypeError):
            messages = []
        self._answer(messages)

    def do_GET(self) -> None:
        self._answer([])

    def _answer(self, messages: list[dict[str, Any]]) -> None:
        destination = self.server.destination
        key = _write_key(self.headers.get("Authorization", ""))
        answer = destination.answer(key, messages)
        with destination.lock:
            destination.received.append(
                Received(self.command, self.path, key, messages, answer))
        if answer.stall:
            time.sleep(answer.stall)
        if answer.drop:
            # RST, not FIN: the client sees a reset connection, as from a crashed proxy.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.close_connection = True
            return
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    def log_message(self, *args: Any) -> None:
        pass
