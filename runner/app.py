"""The runner's ASGI application: webhook deliveries and a readiness check.

A delivery to a path a webhook has goes straight to the endpoint; every other request (the
readiness check, the service's routes, a path no webhook has) and the lifespan go through
Starlette. Starlette's middleware, routing and exception handling, in and out, cost some
tenth of the runner's CPU a delivery; the endpoint answers every request it takes itself,
refusals and failures included.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Mapping, Sequence

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from runner.endpoint import Endpoint, Router, WebhookLimits, error_response, unavailable
from runner.runtime import Runtime
from runner.supervisor import LoopFactory

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

log = logging.getLogger("segfn.runner")


def create_app(runtime: Runtime, route: Router, limits: WebhookLimits = WebhookLimits(),
               routes: Sequence[BaseRoute] = (),
               loops: Mapping[str, LoopFactory] | None = None) -> ASGIApp:
    """The runner's ASGI app; ``route`` maps a request path to the source it runs.

    ``routes`` (the service's API, its metrics) come before the webhooks, which take
    every other path. ``loops`` run beside the runtime's own, under its supervisor.
    """
    endpoint = Endpoint(runtime, route, limits)
    ready = False

    async def healthz(request: Request) -> Response:
        if not ready:
            return JSONResponse({"ok": False, "status": "starting"}, status_code=503)
        if down := runtime.supervisor.down:
            return JSONResponse({"ok": False, "status": "degraded", "down": down},
                                status_code=503)
        return JSONResponse({"ok": True, "workers": [
            {"pid": w.worker.pid, "uid": w.worker.uid, "workspace": w.tenant.workspace,
             "function": w.tenant.function, "shadow": w.tenant.shadow,
             "confinements": list(w.worker.confinements)}
            for w in runtime.fleet.workers()]})

    async def http_error(request: Request, exc: Exception) -> Response:
        # Paths no route can match (an encoded newline, say): JSON like every answer.
        assert isinstance(exc, HTTPException)
        return error_response(exc.status_code, "NotFound" if exc.status_code == 404
                              else "InvalidRequest", str(exc.detail), exc.headers)

    async def internal_error(request: Request, exc: Exception) -> Response:
        # Not accepted, so the sender should try again; never a traceback.
        return unavailable()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        nonlocal ready
        await runtime.start()
        for name, loop in (loops or {}).items():
            runtime.supervisor.start(name, loop)
        ready = True
        try:
            yield
        finally:
            ready = False
            await runtime.close()

    app = Starlette(
        routes=[Route("/healthz", healthz, methods=["GET"]), *routes,
                Route("/{path:path}", endpoint.__call__, methods=ALL_METHODS)],
        exception_handlers={HTTPException: http_error, Exception: internal_error},
        lifespan=lifespan,
    )
    return _WebhooksFirst(app, endpoint)


class _WebhooksFirst:
    """``app``, but for deliveries to a path a webhook has, which go to ``endpoint``."""

    def __init__(self, app: Starlette, endpoint: Endpoint) -> None:
        self.app = app
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.endpoint.route(scope["path"]) is None:
            await self.app(scope, receive, send)
            return
        try:
            response = await self.endpoint(Request(scope, receive))
        except Exception:  # noqa: BLE001 - never a traceback; the sender tries again
            log.exception("a delivery to %s failed in the runner", scope["path"])
            response = unavailable()
        await response(scope, receive, send)
