"""The REST API under ``/api/v1``: functions, versions, sources, tokens, the tester.

Each endpoint authenticates the caller, checks its role, then calls the service or the
catalog. Every refusal is a ``Problem``, answered as ``{"ok": false, "error": {type,
message}}``. The bodies each endpoint takes are declared in runner/service/contract.py;
docs/service-api.md lists the endpoints and their shapes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import attrs
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from runner import captures, errorlog, events, redrive, shadow
from runner.app import create_app
from runner.delivery import read_dead_letters
from runner.endpoint import UNAVAILABLE_RETRY_AFTER, WebhookLimits, error_response, read_body
from runner.runtime import Runtime
from runner.service import catalog, console, contract
from runner.service.access import Principal, parse_grants
from runner.service.bodies import read_json, whole_number
from runner.service.captures import CAPTURE_PREFIX, Captures, delivery_payload
from runner.service.openapi import document as openapi_document
from runner.service.operations import Service
from runner.service.problems import Conflict, InvalidRequest, Problem, Unauthorized
from runner.service.records import Function, Token, check_name
from runner.service.tester import run_replay, run_test
from runner.source import Source
from runner.store import Db
from segfn.sandbox.fleet import Tenant
from segfn.sandbox.invocation import HttpRequest
from segfn.sandbox.webhook import MAX_BODY_BYTES, STALL_SECONDS, RequestRefused

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
        self.captures = Captures(service.public_url)

    # Reading requests

    async def caller(self, request: Request) -> Principal:
        scheme, _, secret = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise Unauthorized("send the API token as 'Authorization: Bearer <token>'")
        token = await self.db.run(lambda db: catalog.authenticate(db, secret.strip()))
        if token is None:
            raise Unauthorized("this token is not valid (unknown or revoked)")
        return Principal(token.workspace, token.id, token.grants)

    # Functions

    async def list_functions(self, request: Request) -> Response:
        who = await self.caller(request)
        functions = await self.db.run(lambda db: catalog.list_functions(db, who.workspace))
        return _json({"functions": [f.view() for f in functions if who.sees_function(f.id)]})

    async def create_function(self, request: Request) -> Response:
        who = await self.caller(request)
        body = contract.NEW_FUNCTION.check(await read_json(request))
        who.require(who.can_create_functions(), "creating functions")
        created = await self.service.create_function(
            who, body["name"], body.get("description", ""), body["code"],
            body.get("settings_schema"))
        return _json(created.view(), 201)

    async def _function(self, request: Request, who: Principal) -> Function:
        ref = request.path_params["function"]
        return await self.db.run(lambda db: self.service.visible_function(db, who, ref))

    async def get_function(self, request: Request) -> Response:
        who = await self.caller(request)
        return _json((await self._function(request, who)).view())

    async def update_function(self, request: Request) -> Response:
        who = await self.caller(request)
        function = await self._function(request, who)
        body = contract.FUNCTION_CHANGES.check(await read_json(request))
        who.require(who.can_edit_function(function.id), "editing this function")
        saved = await self.service.save_function(
            who, function, body.get("code"), body.get("settings_schema"), body.get("description"))
        return _json(saved.view())

    async def delete_function(self, request: Request) -> Response:
        who = await self.caller(request)
        function = await self._function(request, who)
        who.require(who.can_edit_function(function.id), "deleting this function")
        force = _flag(request, "force")
        await self.service.delete_function(function, force)
        await self.runtime.drop_cache(function.id)
        await self.runtime.fleet.drop(Tenant(who.workspace, function.id))
        await self.runtime.fleet.drop(Tenant(who.workspace, function.id, shadow=True))
        return Response(status_code=204)

    async def list_versions(self, request: Request) -> Response:
        who = await self.caller(request)
        function = await self._function(request, who)
        versions = await self.db.run(lambda db: catalog.list_versions(db, function.id))
        return _json({"versions": [v.view(with_code=False) for v in versions]})

    async def get_version(self, request: Request) -> Response:
        who = await self.caller(request)
        function = await self._function(request, who)
        number = whole_number(request.path_params["number"])
        version = await self.db.run(lambda db: catalog.get_version(db, function.id, number))
        return _json(version.view())

    async def test_function(self, request: Request) -> Response:
        who = await self.caller(request)
        function = await self._function(request, who)
        document = contract.TEST_REQUEST.check(await read_json(request))
        who.require(who.can_test_function(function.id), "testing this function")
        number = document.pop("version", function.latest_version)
        version = await self.db.run(lambda db: catalog.get_version(db, function.id, number))
        code = document.pop("code", None)
        if code is not None:
            who.require(who.can_edit_function(function.id), "testing code not saved")
            await self.service.compile(function.name, code)
            version = attrs.evolve(version, code=code)
        tenant = Tenant(who.workspace, function.id)
        return _json(await run_test(self.runtime, tenant, function, version, document))

    async def function_errors(self, request: Request) -> Response:
        who = await self.caller(request)
        function = await self._function(request, who)
        who.require(who.can_test_function(function.id), "reading this function's errors")
        found = await self.runtime.store.run(
            lambda db: errorlog.read_errors(db, function=function.id))
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
            self.service.source_view(db, source)
            for source in catalog.list_sources(db, who.workspace)])
        return _json({"sources": sources})

    async def connect_source(self, request: Request) -> Response:
        who = await self._source_caller(request)
        body = contract.NEW_SOURCE.check(await read_json(request))
        source = await self.service.connect_source(
            who, body["name"], body["function"], body.get("version"),
            body.get("settings", {}), body.get("write_key"), body.get("allow_get", False),
            body.get("capture_days", 0), body.get("dedup_header"))
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
        function_id, source_id = await self.service.delete_source(
            who, request.path_params["source"])
        await self.runtime.drop_cache(function_id, source_id)
        # A deleted source's deliveries and shadow counts go with it, not when they expire.
        def forget(db: Db) -> None:
            captures.forget(db, source_id)
            shadow.forget(db, source_id)

        await self.runtime.store.run(forget)
        return Response(status_code=204)

    async def _source_id(self, request: Request) -> str:
        return (await self._source_of(request))[1]

    async def _source_of(self, request: Request) -> tuple[Principal, str]:
        """The caller, who may manage sources, and the id of the path's source."""
        who = await self._source_caller(request)
        ref = request.path_params["source"]
        source = await self.db.run(lambda db: catalog.find_source(db, who.workspace, ref))
        return who, source.id

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

    async def retry_errors(self, request: Request) -> Response:
        source_id = await self._source_id(request)
        ids = contract.redrive_selection(contract.RETRY_REQUEST.check(await read_json(request)))
        done = await self.runtime.store.run(lambda db: redrive.retry_errors(
            db, ids=ids, source=source_id, sealer=self.runtime.sealer))
        self.runtime.wake_retries()
        return _json(done)

    async def resend_dead_letters(self, request: Request) -> Response:
        source_id = await self._source_id(request)
        ids = contract.redrive_selection(contract.RESEND_REQUEST.check(await read_json(request)))
        deliverer, source = self.runtime.deliverer, self.runtime.resolve(source_id)
        # With nothing to resend, there is no need of a destination to resend to.
        if deliverer is None and len(await self.runtime.store.read(
                lambda db: read_dead_letters(db, source=source_id, limit=1))):
            raise Conflict("this service sends to no Tracking API (it runs without "
                           "--segment-endpoint), so its dead letters cannot be resent")
        if source is None:
            raise Conflict(f"source {source_id} is not running; try again once it is")
        write_key = source.write_key

        def of_source(_: str) -> str | None:
            return write_key

        done = await self.runtime.store.run(lambda db: redrive.resend_dead_letters(
            db, ids=ids, source=source_id, write_key_of=of_source))
        if deliverer is not None:
            deliverer.notify()
        return _json(done)

    async def source_deliveries(self, request: Request) -> Response:
        source = self._running(await self._source_id(request))
        found = await self._captured(source, since=None, limit=captures.LISTED)
        # The request as the errors log shows it: a capture's secrets stay in the store.
        return _json({"deliveries": [
            {**entry, "request": entry["request"] and errorlog.redacted_request(
                HttpRequest.from_dict(entry["request"]), source.secrets)}
            for entry in found]})

    async def replay(self, request: Request) -> Response:
        source = self._running(await self._source_id(request))
        body = contract.REPLAY_REQUEST.check(await read_json(request))

        def read(db: Db) -> tuple[Function, Any]:
            function = catalog.find_function(db, source.workspace, source.function)
            return function, catalog.get_version(db, function.id, body["version"])

        function, version = await self.db.run(read)
        found = await self._captured(source, body.get("since"), body.get("limit"))
        return _json(await run_replay(self.runtime, source, function.filename, version,
                                      found))

    async def get_shadow(self, request: Request) -> Response:
        source_id = await self._source_id(request)
        return _json(await self._shadow_report(source_id))

    async def start_shadow(self, request: Request) -> Response:
        who, source_id = await self._source_of(request)
        body = contract.SHADOW_REQUEST.check(await read_json(request))
        # A new shadow starts counting afresh.
        await self.runtime.store.run(lambda db: shadow.forget(db, source_id))
        return _json(await self.service.shadow(who, source_id, body["version"],
                                               body.get("function")))

    async def end_shadow(self, request: Request) -> Response:
        who, source_id = await self._source_of(request)
        report = await self._shadow_report(source_id)
        await self.service.shadow(who, source_id, None)
        return _json(report)

    async def _shadow_report(self, source_id: str) -> dict[str, Any]:
        """How the source's shadow compared so far; version None when it has none."""
        record = await self.db.run(lambda db: catalog.get_source(db, source_id))
        number = None if record is None else record.shadow_version
        if number is None:
            return {"source": source_id, **shadow.nothing()}
        report = await self.runtime.store.read(
            lambda db: shadow.read(db, source=source_id, version=number))
        return {"source": source_id, **report}

    def _running(self, source_id: str) -> Source:
        source = self.runtime.resolve(source_id)
        if source is None:
            raise Conflict(f"source {source_id} is not running; try again once it is")
        return source

    async def _captured(self, source: Source, since: float | None, limit: int | None
                        ) -> list[dict[str, Any]]:
        """The source's captures; a Conflict saying how to keep some when it keeps none."""
        sealer = self.runtime.sealer
        if sealer is None:
            raise Conflict("this service has no secret key, so it keeps no deliveries "
                           "(start segfn serve with SEGFN_SECRET_KEY or --secret-key-file)")
        found = await self.runtime.store.read(lambda db: captures.read_captures(
            db, sealer, source=source.id, since=since, limit=limit))
        if not found and not source.capture_days:
            raise Conflict(f"source {source.id} keeps no deliveries: set its capture_days "
                           "(segfn sources configure SOURCE --capture-days N)")
        return found

    async def source_events(self, request: Request) -> Response:
        source_id = await self._source_id(request)
        after = whole_number(request.query_params.get("after", "0"), "after", minimum=0)
        limit = min(whole_number(request.query_params.get("limit", "100"), "limit"), 1000)
        newest = _flag(request, "newest")
        found = await self.runtime.store.run(
            lambda db: events.read_events(db, after, limit, source=source_id, newest=newest))
        return _json({"events": found})

    # Tokens

    async def _owner(self, request: Request) -> Principal:
        who = await self.caller(request)
        who.require(who.can_manage_tokens(), "managing tokens")
        return who

    async def list_tokens(self, request: Request) -> Response:
        who = await self._owner(request)
        tokens = await self.db.run(lambda db: catalog.list_tokens(db, who.workspace))
        return _json({"tokens": [token.view() for token in tokens]})

    async def create_token(self, request: Request) -> Response:
        who = await self._owner(request)
        body = contract.NEW_TOKEN.check(await read_json(request))
        grants = parse_grants(body["roles"])

        def create(db: Db) -> tuple[Token, str]:
            # Functions are named by id or name; the token keeps their ids.
            resolved = tuple(g if g.functions is None else type(g)(g.role, tuple(
                catalog.find_function(db, who.workspace, ref).id for ref in g.functions))
                for g in grants)
            return catalog.create_token(db, who.workspace, body["name"], resolved)

        token, secret = await self.db.run(create)
        return _json({"token": token.view(), "secret": secret}, 201)

    async def revoke_token(self, request: Request) -> Response:
        who = await self._owner(request)
        token_id = request.path_params["token"]
        await self.db.run(lambda db: catalog.revoke_token(db, who.workspace, token_id))
        return Response(status_code=204)

    async def whoami(self, request: Request) -> Response:
        who = await self.caller(request)
        return _json(await self.db.run(lambda db: {
            "workspace": catalog.workspace(db, who.workspace).view(),
            "token": catalog.get_token(db, who.workspace, who.token_id).view()}))

    # The console's helpers: the compile check, capture URLs

    async def check_code(self, request: Request) -> Response:
        await self.caller(request)
        body = contract.CODE_CHECK.check(await read_json(request))
        name = check_name(body.get("name", "handler"))
        return _json(await self.service.check_code(name, body["code"]))

    async def create_capture(self, request: Request) -> Response:
        who = await self.caller(request)
        return _json(self.captures.create(who.workspace, who.token_id), 201)

    async def get_capture(self, request: Request) -> Response:
        who = await self.caller(request)
        return _json(self.captures.get(who.workspace, who.token_id,
                                       request.path_params["capture"]))

    async def catch(self, request: Request) -> Response:
        """A POST to a capture URL (no token: the URL's secret is the credential)."""
        try:
            body = await read_body(request, MAX_BODY_BYTES, STALL_SECONDS)
            self.captures.catch(request.path_params["secret"], delivery_payload(
                body, request.headers.items(), request.url.query))
        except (Problem, RequestRefused) as exc:
            return error_response(exc.status, exc.type, str(exc))
        return _json({"ok": True, "captured": True})

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
            "/sources/{source}/errors/retry": {"POST": self.retry_errors},
            "/sources/{source}/dead-letters": {"GET": self.source_dead_letters},
            "/sources/{source}/dead-letters/resend": {"POST": self.resend_dead_letters},
            "/sources/{source}/events": {"GET": self.source_events},
            "/sources/{source}/deliveries": {"GET": self.source_deliveries},
            "/sources/{source}/replay": {"POST": self.replay},
            "/sources/{source}/shadow": {"GET": self.get_shadow, "PUT": self.start_shadow,
                                         "DELETE": self.end_shadow},
            "/tokens": {"GET": self.list_tokens, "POST": self.create_token},
            "/tokens/{token}": {"DELETE": self.revoke_token},
            "/check": {"POST": self.check_code},
            "/captures": {"POST": self.create_capture},
            "/captures/{capture}": {"GET": self.get_capture},
        }
        routes = [Resource(path, handlers) for path, handlers in resources.items()]
        return Starlette(routes=routes, exception_handlers={
            Problem: _problem, HTTPException: _http_problem, Exception: _crash})


def service_app(service: Service, runtime: Runtime, limits: WebhookLimits = WebhookLimits(),
                routes: Sequence[BaseRoute] = ()) -> ASGIApp:
    """What ``segfn serve`` serves: the API at ``/api/v1``, the capture URLs, the console,
    then ``routes``, then the sources' webhooks."""
    api = Api(service, runtime)
    return create_app(runtime, service.route, limits, routes=[
        Mount("/api/v1", app=api.app()),
        Route(CAPTURE_PREFIX + "{secret}", api.catch, methods=["POST"]),
        *console.routes(), *routes], loops={"catalog": service.follow})


def _flag(request: Request, name: str) -> bool:
    """A true/false query parameter (any case), false when absent."""
    value = request.query_params.get(name, "false").lower()
    if value not in ("true", "false"):
        raise InvalidRequest(f"{name} is true or false")
    return value == "true"


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
