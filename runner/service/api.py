"""The REST API under ``/api/v1``: functions, versions, sources, tokens, the tester.

Each endpoint authenticates the caller, checks its role, then calls the service or the
catalog. Every refusal is a ``Problem``, answered as ``{"ok": false, "error": {type,
message}}``. The bodies each endpoint takes are declared in runner/service/contract.py;
docs/service-api.md lists the endpoints and their shapes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from runner import errorlog, events
from runner.delivery import read_dead_letters
from runner.endpoint import UNAVAILABLE_RETRY_AFTER, error_response
from runner.runtime import Runtime
from runner.service import catalog, contract
from runner.service.access import Principal, parse_grants
from runner.service.bodies import read_json, whole_number
from runner.service.openapi import document as openapi_document
from runner.service.operations import Service
from runner.service.problems import (
    InvalidRequest,
    Problem,
    Unauthorized,
)
from runner.service.tester import run_test
from segfn.sandbox.fleet import Tenant

_HTTP_TYPES = {404: "NotFound", 405: "MethodNotAllowed", 413: "PayloadTooLarge",
               415: "UnsupportedMediaType"}
_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")

Handler = Callable[[Request], Awaitable[Response]]


class Resource(Route):
    """One path of the API, with the handler of each method it takes.

    HEAD is answered wherever GET is. Any other method gets a 405 ``MethodNotAllowed``
    naming the methods the path takes, in its message and in ``Allow``.
    """

    def __init__(self, path: str, handlers: Mapping[str, Handler]) -> None:
        self.handlers = dict(handlers)
        super().__init__(path, self._dispatch, methods=list(self.handlers))
        methods = self.methods or set()
        self.allow = ", ".join(m for m in _METHOD_ORDER if m in methods)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.methods is not None and scope["method"] not in self.methods:
            # Starlette's own answer would be a bare "Method Not Allowed".
            where = scope.get("root_path", "") + self.path
            response = error_response(405, "MethodNotAllowed",
                              f"{scope['method']} is not allowed on {where}, which takes "
                              f"{self.allow}", {"Allow": self.allow})
            await response(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _dispatch(self, request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await self.handlers[method](request)


class Api:
    """The endpoints, bound to the service and the runtime they drive."""

    def __init__(self, service: Service, runtime: Runtime) -> None:
        self.service = service
        self.runtime = runtime
        self.db = service.catalog

    # Reading requests

    async def caller(self, request: Request) -> Principal:
        scheme, _, secret = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise Unauthorized("send the API token as 'Authorization: Bearer <token>'")
        row = await self.db.run(lambda db: catalog.authenticate(db, secret.strip()))
        if row is None:
            raise Unauthorized("this token is not valid (unknown or revoked)")
        return Principal(row["workspace"], row["id"], catalog.grants_of(row))

    # Functions

    async def list_functions(self, request: Request) -> Response:
        who = await self.caller(request)
        functions = await self.db.run(lambda db: catalog.list_functions(db, who.workspace))
        return _json({"functions": [f for f in functions if who.sees_function(f["id"])]})

    async def create_function(self, request: Request) -> Response:
        who = await self.caller(request)
        body = contract.NEW_FUNCTION.check(await read_json(request))
        who.require(who.can_create_functions(), "creating functions")
        created = await self.service.create_function(
            who, body["name"], body.get("description", ""), body["code"],
            body.get("settings_schema"))
        return _json(created, 201)

    async def _function(self, request: Request, who: Principal) -> dict[str, Any]:
        ref = request.path_params["function"]
        return await self.db.run(lambda db: self.service.visible_function(db, who, ref))

    async def get_function(self, request: Request) -> Response:
        who = await self.caller(request)
        return _json(await self._function(request, who))

    async def update_function(self, request: Request) -> Response:
        who = await self.caller(request)
        function = await self._function(request, who)
        body = contract.FUNCTION_CHANGES.check(await read_json(request))
        who.require(who.can_edit_function(function["id"]), "editing this function")
        return _json(await self.service.save_function(
            who, function, body.get("code"), body.get("settings_schema"),
            body.get("description")))

    async def delete_function(self, request: Request) -> Response:
        who = await self.caller(request)
        function = await self._function(request, who)
        who.require(who.can_edit_function(function["id"]), "deleting this function")
        force = request.query_params.get("force", "false").lower()
        if force not in ("true", "false"):
            raise InvalidRequest("force is true or false")
        await self.service.delete_function(function, force == "true")
        await self.runtime.drop_cache(function["id"])
        await self.runtime.fleet.drop(Tenant(who.workspace, function["id"]))
        return Response(status_code=204)

    async def list_versions(self, request: Request) -> Response:
        who = await self.caller(request)
        function = await self._function(request, who)
        versions = await self.db.run(lambda db: catalog.list_versions(db, function["id"]))
        return _json({"versions": versions})

    async def get_version(self, request: Request) -> Response:
        who = await self.caller(request)
        function = await self._function(request, who)
        number = whole_number(request.path_params["number"])
        return _json(await self.db.run(
            lambda db: catalog.get_version(db, function["id"], number)))

    async def test_function(self, request: Request) -> Response:
        who = await self.caller(request)
        function = await self._function(request, who)
        document = contract.TEST_REQUEST.check(await read_json(request))
        who.require(who.can_test_function(function["id"]), "testing this function")
        number = document.pop("version", function["latest_version"])
        version = await self.db.run(lambda db: catalog.get_version(db, function["id"], number))
        tenant = Tenant(who.workspace, function["id"])
        return _json(await run_test(self.runtime, tenant, function, version, document))

    async def function_errors(self, request: Request) -> Response:
        who = await self.caller(request)
        function = await self._function(request, who)
        who.require(who.can_test_function(function["id"]), "reading this function's errors")
        found = await self.runtime.store.run(
            lambda db: errorlog.read_errors(db, function=function["id"]))
        return _json({"errors": found})

    async def deploy(self, request: Request) -> Response:
        who = await self.caller(request)
        function = await self._function(request, who)
        body = contract.DEPLOY_REQUEST.check(await read_json(request))
        who.require(who.can_manage_sources(), "deploying to sources")
        targets = body["sources"]
        if targets != "all" and not (isinstance(targets, list)
                                     and all(isinstance(t, str) for t in targets)):
            raise InvalidRequest("sources is \"all\" or a list of source ids or names")
        deployed = await self.service.deploy(who, function, body.get("version"), targets)
        return _json({"deployed": deployed})

    # Sources

    async def _source_caller(self, request: Request) -> Principal:
        who = await self.caller(request)
        who.require(who.can_manage_sources(), "managing sources")
        return who

    async def list_sources(self, request: Request) -> Response:
        who = await self._source_caller(request)
        sources = await self.db.run(lambda db: [
            self.service.source_view(db, row)
            for row in catalog.source_rows(db, who.workspace)])
        return _json({"sources": sources})

    async def connect_source(self, request: Request) -> Response:
        who = await self._source_caller(request)
        body = contract.NEW_SOURCE.check(await read_json(request))
        source = await self.service.connect_source(
            who, body["name"], body["function"], body.get("version"),
            body.get("settings", {}), body.get("write_key"))
        return _json(source, 201)

    async def get_source(self, request: Request) -> Response:
        who = await self._source_caller(request)
        ref = request.path_params["source"]
        return _json(await self.db.run(lambda db: self.service.source_view(
            db, catalog.find_source(db, who.workspace, ref))))

    async def configure_source(self, request: Request) -> Response:
        who = await self._source_caller(request)
        body = contract.SOURCE_CHANGES.check(await read_json(request))
        return _json(await self.service.configure_source(
            who, request.path_params["source"], body))

    async def delete_source(self, request: Request) -> Response:
        who = await self._source_caller(request)
        await self.runtime.drop_cache(*await self.service.delete_source(
            who, request.path_params["source"]))
        return Response(status_code=204)

    async def _source_id(self, request: Request) -> str:
        who = await self._source_caller(request)
        ref = request.path_params["source"]
        row = await self.db.run(lambda db: catalog.find_source(db, who.workspace, ref))
        return row["id"]

    async def source_errors(self, request: Request) -> Response:
        source_id = await self._source_id(request)
        found = await self.runtime.store.run(
            lambda db: errorlog.read_errors(db, source=source_id))
        return _json({"errors": found})

    async def source_dead_letters(self, request: Request) -> Response:
        source_id = await self._source_id(request)
        found = await self.runtime.store.read(
            lambda db: read_dead_letters(db, source=source_id))
        return _json({"dead_letters": found})

    async def source_events(self, request: Request) -> Response:
        source_id = await self._source_id(request)
        after = whole_number(request.query_params.get("after", "0"), "after", minimum=0)
        limit = min(whole_number(request.query_params.get("limit", "100"), "limit"), 1000)
        found = await self.runtime.store.run(
            lambda db: events.read_events(db, after, limit, source=source_id))
        return _json({"events": found})

    # Tokens

    async def _owner(self, request: Request) -> Principal:
        who = await self.caller(request)
        who.require(who.can_manage_tokens(), "managing tokens")
        return who

    async def list_tokens(self, request: Request) -> Response:
        who = await self._owner(request)
        return _json({"tokens": await self.db.run(
            lambda db: catalog.list_tokens(db, who.workspace))})

    async def create_token(self, request: Request) -> Response:
        who = await self._owner(request)
        body = contract.NEW_TOKEN.check(await read_json(request))
        grants = parse_grants(body["roles"])

        def create(db: sqlite3.Connection) -> tuple[dict[str, Any], str]:
            # Functions are named by id or name; the token keeps their ids.
            resolved = tuple(g if g.functions is None else type(g)(g.role, tuple(
                catalog.find_function(db, who.workspace, ref)["id"] for ref in g.functions))
                for g in grants)
            return catalog.create_token(db, who.workspace, body["name"], resolved)

        token, secret = await self.db.run(create)
        return _json({"token": token, "secret": secret}, 201)

    async def revoke_token(self, request: Request) -> Response:
        who = await self._owner(request)
        token_id = request.path_params["token"]
        await self.db.run(lambda db: catalog.revoke_token(db, who.workspace, token_id))
        return Response(status_code=204)

    async def whoami(self, request: Request) -> Response:
        who = await self.caller(request)
        return _json(await self.db.run(lambda db: {
            "workspace": catalog.workspace(db, who.workspace),
            "token": catalog.get_token(db, who.workspace, who.token_id)}))

    async def openapi(self, request: Request) -> Response:
        return _json(openapi_document())

    def app(self) -> Starlette:
        """The API as an ASGI app, to mount at ``/api/v1``."""
        # Every path and its handler by method; runner/service/openapi.py documents exactly
        # these.
        resources: dict[str, dict[str, Handler]] = {
            "/openapi.json": {"GET": self.openapi},
            "/whoami": {"GET": self.whoami},
            "/functions": {"GET": self.list_functions, "POST": self.create_function},
            "/functions/{function}": {"GET": self.get_function, "PATCH": self.update_function,
                                      "DELETE": self.delete_function},
            "/functions/{function}/versions": {"GET": self.list_versions},
            "/functions/{function}/versions/{number}": {"GET": self.get_version},
            "/functions/{function}/test": {"POST": self.test_function},
            "/functions/{function}/errors": {"GET": self.function_errors},
            "/functions/{function}/deploy": {"POST": self.deploy},
            "/sources": {"GET": self.list_sources, "POST": self.connect_source},
            "/sources/{source}": {"GET": self.get_source, "PATCH": self.configure_source,
                                  "DELETE": self.delete_source},
            "/sources/{source}/errors": {"GET": self.source_errors},
            "/sources/{source}/dead-letters": {"GET": self.source_dead_letters},
            "/sources/{source}/events": {"GET": self.source_events},
            "/tokens": {"GET": self.list_tokens, "POST": self.create_token},
            "/tokens/{token}": {"DELETE": self.revoke_token},
        }
        routes = [Resource(path, handlers) for path, handlers in resources.items()]
        return Starlette(routes=routes, exception_handlers={
            Problem: _problem, HTTPException: _http_problem, Exception: _crash})


def _json(document: Any, status: int = 200) -> Response:
    return JSONResponse(document, status_code=status)


async def _problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    headers = {"Retry-After": UNAVAILABLE_RETRY_AFTER} if exc.status == 503 else None
    return error_response(exc.status, exc.type, str(exc), headers)


async def _http_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = "no such endpoint" if exc.status_code == 404 else exc.detail
    return error_response(exc.status_code, _HTTP_TYPES.get(exc.status_code, "InvalidRequest"),
                  message, exc.headers)


async def _crash(request: Request, exc: Exception) -> Response:
    # A bug of ours; the caller gets no traceback, and the fuzz test hunts for these.
    return error_response(500, "InternalError", "the service failed to handle this request")
