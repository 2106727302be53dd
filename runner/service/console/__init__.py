"""The web console at ``/console``: a page and its built assets, nothing else.

The console is a client of the REST API under ``/api/v1`` like any other; this module only
serves the files that console/ (the front end's sources, at the top of the repository)
builds into ``static/``. Every answer carries a strict Content-Security-Policy: scripts,
styles and connections from this origin only, no inline script or style, no eval, no
framing. The page keeps the token in sessionStorage and sends it as a header, never in a
URL.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from runner.endpoint import error_response

STATIC = Path(__file__).parent / "static"
PREFIX = "/console"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY,
           "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
           "X-Frame-Options": "DENY", "Cache-Control": "no-cache"}
# The files the build makes, each with its type; nothing else under static/ is served.
ASSETS = {"index.html": "text/html; charset=utf-8",
          "app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}


async def _page(request: Request) -> Response:
    return _asset("index.html")


async def _file(request: Request) -> Response:
    return _asset(request.path_params["name"])


async def _slash(request: Request) -> Response:
    return RedirectResponse(PREFIX + "/", status_code=308, headers=HEADERS)


def _asset(name: str) -> Response:
    path = STATIC / name
    if name not in ASSETS or not path.is_file():
        return error_response(404, "NotFound", f"the console has no file {name!r}", HEADERS)
    return FileResponse(path, media_type=ASSETS[name], headers=HEADERS)


def routes() -> list[BaseRoute]:
    """The console's routes, to go before the webhooks (which take every other path)."""
    return [Route(PREFIX, _slash, methods=["GET", "HEAD"]),
            Route(PREFIX + "/", _page, methods=["GET", "HEAD"]),
            Route(PREFIX + "/{name}", _file, methods=["GET", "HEAD"])]
