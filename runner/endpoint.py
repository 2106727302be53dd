"""The webhook endpoint: every check of SPEC 13, in its order, then the delivery.

Method (405), path (404), content type (415), size (413), rate limit (429), then the body
is read, giving up on a sender that stalls (408). A GET is taken only by a source that
allows it (``Source.allow_get``), with no content type and no body. Each refusal is a
JSON error body; no request, however malformed, gets a traceback.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping

import attrs
from starlette.datastructures import URL
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import Scope

from runner.ratelimit import RateLimiter, retry_after
from runner.runtime import Runtime
from runner.source import Source
from runner.stall import Deadline
from segfn import jsontext
from segfn.sandbox.invocation import METHODS, HttpRequest
from segfn.sandbox.webhook import (
    MAX_BODY_BYTES,
    STALL_SECONDS,
    RequestRefused,
    check_content_type,
    check_size,
)

Router = Callable[[str], Source | None]
# How long a sender is asked to wait when the runner cannot take a delivery (its disk, its
# database, its cache or its workers fail): the sender keeps it and tries again.
UNAVAILABLE_RETRY_AFTER = "30"

log = logging.getLogger("segfn.runner")


def error_response(status: int, type: str, message: str,
                   headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"ok": False, "error": {"type": type, "message": message}},
                        status_code=status, headers=headers)


def unavailable(message: str = "the runner could not take this delivery") -> JSONResponse:
    """The answer to a delivery the runner failed to take: never the sender's fault."""
    return error_response(503, "Unavailable", message,
                          {"Retry-After": UNAVAILABLE_RETRY_AFTER})


@attrs.frozen
class Refusal:
    """A delivery refused before any handler ran: the answer's status, error and headers."""

    status: int
    type: str
    message: str
    headers: Mapping[str, str] | None = None

    def response(self) -> JSONResponse:
        return error_response(self.status, self.type, self.message, self.headers)


def _post_only() -> Refusal:
    return Refusal(405, "MethodNotAllowed", "webhooks accept POST only", {"Allow": "POST"})


@attrs.frozen
class WebhookLimits:
    max_body: int = MAX_BODY_BYTES
    stall_seconds: float = STALL_SECONDS
    rate_limit: float | None = None


async def read_body(request: Request, limit: int, stall: float) -> bytes:
    """The body, read no further than ``limit`` bytes and no slower than ``stall``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit():
        check_size(int(declared), limit)
    chunks: list[bytes] = []
    size = 0
    try:
        # One deadline per chunk: a sender may be slow, but never silent for ``stall``.
        # ASGI messages read as they come (not ``request.stream()``): most bodies are in
        # the first, and then the deadline is set once and never moved.
        async with Deadline(stall) as deadline:
            while True:
                message = await request.receive()
                if message["type"] == "http.disconnect":
                    raise ClientDisconnect()
                chunk = message.get("body", b"")
                size += len(chunk)
                check_size(size, limit)
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
                deadline.moved()
    except TimeoutError:
        raise RequestRefused(408, "RequestTimeout",
                             f"the request body did not arrive within {stall:g} s")
    return b"".join(chunks)


def delivery_url(scope: Scope) -> str:
    """``str(request.url)`` of the request ``scope``, remembered: deliveries come to the
    same few URLs again and again, and Starlette makes each anew (a twentieth of the
    runner's CPU a delivery)."""
    host = next((value for key, value in scope["headers"] if key == b"host"), None)
    server = scope.get("server")  # a list, from some servers: a key must be a tuple
    return _url(scope.get("scheme", "http"), None if server is None else tuple(server),
                host, scope["path"], scope.get("query_string", b""))


@functools.lru_cache(maxsize=256)
def _url(scheme: str, server: tuple[str, int] | None, host: bytes | None, path: str,
         query: bytes) -> str:
    return str(URL(scope={"scheme": scheme, "server": server, "path": path,
                          "query_string": query,
                          "headers": [] if host is None else [(b"host", host)]}))


class Endpoint:
    """The ASGI endpoint for webhook deliveries; the runtime's observer hears each
    refusal's status."""

    def __init__(self, runtime: Runtime, route: Router,
                 limits: WebhookLimits = WebhookLimits()) -> None:
        self.runtime = runtime
        self.route = route
        self.limits = limits
        self._limiter = RateLimiter(limits.rate_limit) if limits.rate_limit else None

    async def __call__(self, request: Request) -> Response:
        accepted = await self._accept(request)
        if isinstance(accepted, Refusal):
            self.runtime.observer.refused(accepted.status, accepted.type, accepted.message)
            return accepted.response()
        source, body = accepted
        delivery = HttpRequest(body, request.headers.items(), delivery_url(request.scope),
                               request.method)
        try:
            outcome = await self.runtime.deliver(source, delivery)
        except Exception:  # noqa: BLE001 - a handler's failures come as outcomes, not raised
            log.exception("a delivery to source %s could not be taken", source.id)
            return unavailable()
        reply = outcome.result.reply
        if reply is not None:
            return Response(reply.body, status_code=200, media_type=reply.content_type)
        return Response(jsontext.dumps(outcome.body()), status_code=outcome.status,
                        media_type="application/json")

    async def _accept(self, request: Request) -> tuple[Source, bytes] | Refusal:
        """The source and body of a delivery to run, or the answer refusing it."""
        if request.method not in METHODS:
            return _post_only()
        path = request.scope["path"]
        source = self.route(path)
        get = request.method == "GET"
        if get and (source is None or not source.allow_get):
            # Only a source that takes GET does; to any other path it is as before, a 405.
            return _post_only()
        if source is None:
            return Refusal(404, "NotFound", f"no webhook at {path}")
        if self.runtime.draining:
            return Refusal(503, "Stopping", "the runner is stopping",
                           {"Retry-After": UNAVAILABLE_RETRY_AFTER})
        if source.paused:
            # Not accepted, so the sender keeps the delivery and tries again later.
            return Refusal(503, "SourcePaused", "this source is paused",
                           {"Retry-After": "60"})
        try:
            if not get:
                check_content_type(request.headers.get("content-type"))
                declared = request.headers.get("content-length", "")
                if declared.isdigit():
                    check_size(int(declared), self.limits.max_body)
            if self._limiter is not None:
                wait = self._limiter.acquire(source.id)
                if wait:
                    return Refusal(429, "RateLimited", "this source is over its rate limit",
                                   {"Retry-After": retry_after(wait)})
            # A GET's body, if it has one, is not read: the handler sees its query.
            return source, b"" if get else await read_body(request, self.limits.max_body,
                                                           self.limits.stall_seconds)
        except RequestRefused as refused:
            return Refusal(refused.status, refused.type, str(refused))
        except ClientDisconnect:
            return Refusal(400, "BadRequest", "the client disconnected")
