"""The HTTP server in front of the app: connections bounded, and a stop that drains.

uvicorn closes a keep-alive connection idle after a response, but never one that sends no
request at all: a thousand such sockets use up a common open-file limit (1024) and shut
out every sender. ``ConnectionLimits.header_timeout`` closes a connection whose first
request's headers have not arrived in time; ``max_connections`` answers 503 past that many
connections (uvicorn's ``limit_concurrency``), so that the process keeps file descriptors
for its workers and its database.

On SIGTERM or SIGINT the server stops listening and ``on_stop`` is called at once, so the
runner answers 503 to deliveries still arriving on open connections while the ones under
way finish; the runtime then drains (``Runtime.close``).
"""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any, cast

import attrs
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from segfn.sandbox.webhook import HEADER_TIMEOUT, MAX_CONNECTIONS

# How long the requests under way may take to finish once a stop is asked for.
GRACEFUL_SECONDS = 10
# Allocations between collections of the youngest generation (Python's default is 700).
# A delivery allocates some thousands of objects, nearly all freed by reference counting;
# at the default a collection ran every few requests and, through the older generations,
# a full one walked every module, statement and route the runner had loaded: p99 halved.
GC_THRESHOLD = (50_000, 20, 20)
# How long the event loop's thread may hold the GIL while another thread waits for it
# (Python's default is 5 ms). The store's writer and reader give the GIL up at every
# statement and wait to take it back: at the default, a group commit under load waited
# some 15 ms, most of it for the GIL.
SWITCH_INTERVAL = 0.0005


@attrs.frozen
class ConnectionLimits:
    header_timeout: float = attrs.field(default=HEADER_TIMEOUT,
                                        validator=attrs.validators.gt(0))
    max_connections: int = attrs.field(default=MAX_CONNECTIONS,
                                       validator=attrs.validators.ge(1))


class OneWriteATurn:
    """A connection's transport whose writes of one event-loop turn reach the socket in
    one system call, at the end of the turn: uvicorn writes a response's head and its body
    apart, two system calls (and two segments for the sender to read) where one does, some
    6% of the runner's CPU a delivery. Whatever else a transport does goes to ``transport``
    as it is; what ends the connection or its writing sends the pending bytes first."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(bytes(data))

    def writelines(self, lines: Iterable[bytes | bytearray | memoryview]) -> None:
        for data in lines:
            self.write(data)

    def _flush(self) -> None:
        data = b"".join(self._pending)
        self._pending = []
        # Closed meanwhile by the sender going away: what was for it goes nowhere.
        if data and not self._transport.is_closing():
            self._transport.write(data)

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending = []
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def _bounded(header_timeout: float) -> type[HttpToolsProtocol]:
    class HeaderTimeout(HttpToolsProtocol):
        """Closes the connection unless a request's headers arrive within the timeout;
        writes through ``OneWriteATurn``."""

        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(cast(asyncio.Transport,
                                           OneWriteATurn(transport, self.loop)))
            self._header_timer = self.loop.call_later(header_timeout, self._no_request)

        def on_headers_complete(self) -> None:
            self._stop_timer()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_timer()
            super().connection_lost(exc)

        def _stop_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _no_request(self) -> None:
            self._header_timer = None
            if not self.transport.is_closing():
                self.transport.close()

    return HeaderTimeout


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, on_stop: Callable[[], None] | None) -> None:
        super().__init__(config)
        self._on_stop = on_stop

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._on_stop is not None:
            self._on_stop()
        super().handle_exit(sig, frame)


def tune_interpreter() -> None:
    """For a process that is to serve: what it has loaded stays for good, so no collection
    walks it again (``gc.freeze``); collections run less often (``GC_THRESHOLD``), and
    threads take the GIL sooner (``SWITCH_INTERVAL``)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)
    sys.setswitchinterval(SWITCH_INTERVAL)


def http_server(app: Any, host: str, port: int, limits: ConnectionLimits = ConnectionLimits(),
                on_stop: Callable[[], None] | None = None) -> uvicorn.Server:
    """The server for ``app``; ``on_stop`` hears a stop asked for (SIGTERM, SIGINT)."""
    return _Server(uvicorn.Config(
        # No access log: its lines are at info, below the level, yet each response paid
        # for making its arguments.
        app, host=host, port=port, log_level="warning", access_log=False, lifespan="on",
        http=_bounded(limits.header_timeout), limit_concurrency=limits.max_connections,
        timeout_graceful_shutdown=GRACEFUL_SECONDS), on_stop)
