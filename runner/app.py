"""The Starlette application: webhook deliveries and a readiness check."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runner.endpoint import Endpoint, Router, WebhookLimits, error_response
from runner.runtime import Runtime

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def create_app(runtime: Runtime, route: Router,
               limits: WebhookLimits = WebhookLimits()) -> Starlette:
    """The runner's ASGI app; ``route`` maps a request path to the source it runs."""
    endpoint = Endpoint(runtime, route, limits)
    ready = False

    async def healthz(request: Request) -> Response:
        if not ready:
            return JSONResponse({"ok": False, "status": "starting"}, status_code=503)
        return JSONResponse({"ok": True, "workers": len(runtime.pool.pids)})

    async def internal_error(request: Request, exc: Exception) -> Response:
        # Not accepted, so the sender should try again; never a traceback.
        return error_response(503, "Unavailable", "the runner could not take this delivery")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        nonlocal ready
        await runtime.start()
        ready = True
        try:
            yield
        finally:
            ready = False
            await runtime.close()

    return Starlette(
        routes=[Route("/healthz", healthz, methods=["GET"]),
                Route("/{path:path}", endpoint.__call__, methods=ALL_METHODS)],
        exception_handlers={Exception: internal_error},
        lifespan=lifespan,
    )
