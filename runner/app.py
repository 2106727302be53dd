"""The Starlette application: webhook deliveries and a readiness check."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from runner.endpoint import Endpoint, Router, WebhookLimits, error_response, unavailable
from runner.runtime import Runtime
from runner.supervisor import LoopFactory

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def create_app(runtime: Runtime, route: Router, limits: WebhookLimits = WebhookLimits(),
               routes: Sequence[BaseRoute] = (),
               loops: Mapping[str, LoopFactory] | None = None) -> Starlette:
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

    return Starlette(
        routes=[Route("/healthz", healthz, methods=["GET"]), *routes,
                Route("/{path:path}", endpoint.__call__, methods=ALL_METHODS)],
        exception_handlers={HTTPException: http_error, Exception: internal_error},
        lifespan=lifespan,
    )
