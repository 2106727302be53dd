"""The OpenAPI document: valid OpenAPI 3.1, exactly the API's routes, and true to a real
service: a scenario over every endpoint checks each answer's status and body against the
document, refusals included, until every status the document lists has been seen."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Callable, Iterator
from importlib import resources
from types import SimpleNamespace
from typing import Any, cast
from urllib.parse import quote

import httpx
import jsonschema
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from runner.runtime import Runtime
from runner.service.api import Api, Resource
from runner.service.bodies import MAX_API_BODY
from runner.service.captures import MAX_CAPTURES
from runner.service.keyring import generate_key
from runner.service.openapi import document
from runner.service.operations import Service
from runner.store import DATABASE_FILE
from tests.runner.harness import SEGFN
from tests.service.harness import Serve
from tests.stored import connect

METHODS = ("get", "head", "post", "put", "patch", "delete", "options", "trace")
BASE = "urn:segfn:openapi"


def api_routes() -> dict[str, Resource]:
    """The routes of runner/api.py by path, read from the app it builds."""
    service = SimpleNamespace(catalog=None, public_url="http://127.0.0.1:1")
    api = Api(cast(Service, service), cast(Runtime, None))
    routes = api.app().routes
    assert all(isinstance(route, Resource) for route in routes)
    return {route.path: route for route in cast(list[Resource], routes)}


def operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(METHOD, path, operation) of every operation in the document."""
    for path, item in document()["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method.upper(), path, operation


def pointer_escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def resolve(pointer: str) -> Any:
    """The part of the document at a JSON pointer like ``/components/schemas/Source``."""
    found: Any = document()
    for part in pointer.lstrip("/").split("/"):
        found = found[part.replace("~1", "/").replace("~0", "~")]
    return found


# Structure

def test_the_document_is_valid_openapi_3_1() -> None:
    doc = document()
    assert doc["openapi"].startswith("3.1.")
    # openapi-spec-validator: the OpenAPI 3.1 JSON Schema, plus the checks it cannot
    # express (every $ref resolves, path parameters are declared, operation ids unique).
    validate_openapi(doc)
    # And by hand, with jsonschema, against the OpenAPI 3.1 schema the package ships.
    spec_schema = json.loads((resources.files("openapi_spec_validator") / "resources"
                              / "schemas" / "v3.1" / "schema.json").read_text())
    jsonschema.validate(doc, spec_schema, cls=Draft202012Validator)
    # Every schema in it is a valid JSON Schema 2020-12 schema.
    for schema in doc["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    assert json.loads(json.dumps(doc)) == doc
    assert document() is doc  # built once


def test_every_route_and_nothing_else_is_documented() -> None:
    routes = {(method, path) for path, route in api_routes().items()
              for method in route.handlers}
    documented = {(method, path) for method, path, _ in operations()}
    assert documented == routes


def test_every_operation_documents_its_refusals() -> None:
    for method, path, operation in operations():
        statuses = set(operation["responses"])
        public = operation.get("security") == []
        assert public == (path == "/openapi.json")
        assert ("401" in statuses) != public, (method, path)
        if "requestBody" in operation:
            assert {"400", "413", "415"} <= statuses, (method, path)
        for response in operation["responses"].values():
            if "$ref" in response:
                resolve(response["$ref"].removeprefix("#"))


# Against a real service

CODE = """\
from segfn import Segment, ValidationError, console


def on_request(request, settings):
    body = request.json()
    console.log("user", body.get("user"))
    if body.get("fail"):
        raise ValidationError("asked to fail")
    Segment.track({"event": "Pinged", "userId": str(body.get("user", "u1")),
                   "properties": {"repo": settings.get("repo")}})
"""
SCHEMA_V1 = [{"label": "Repo"}]
SCHEMA_V2 = [{"label": "Repo"}, {"label": "API Key", "encrypted": True}]
SCHEMA_V3 = [*SCHEMA_V2, {"label": "Region", "required": True}]
REGISTRY = Registry().with_resource(BASE, DRAFT202012.create_resource(document()))


class Checked:
    """Calls the API of a real service, checking every answer against the document.

    ``seen`` collects (METHOD, path, status) of every answer, to show at the end that
    every status the document lists is one the service really gives.
    """

    def __init__(self, serve: Serve) -> None:
        self.serve = serve
        self.seen: set[tuple[str, str, int]] = set()

    def __call__(self, method: str, path: str, status: int, token: str | None = None,
                 **kwargs: Any) -> Any:
        """Call ``path``: a documented path, maybe with a query, ``{name}`` filled from
        ``params``; the answer must have ``status``. Returns its JSON body, if any."""
        params: dict[str, Any] = kwargs.pop("params", {})
        url = path.format(**{k: quote(str(v), safe="") for k, v in params.items()})
        path = path.partition("?")[0]
        answer = self.serve.api(method, url, token=token, **kwargs)
        assert answer.status_code == status, (method, url, answer.text)
        operation = document()["paths"][path][method.lower()]
        assert str(status) in operation["responses"], \
            f"{method} {path} answered {status}, which the document does not list"
        pointer = "/".join(["/paths", pointer_escape(path), method.lower(), "responses",
                            str(status)])
        self.check(answer, pointer)
        self.seen.add((method, path, status))
        return answer.json() if answer.content else None

    def check(self, answer: httpx.Response, pointer: str) -> None:
        """``answer`` is what the response at ``pointer`` in the document describes."""
        response = resolve(pointer)
        if "$ref" in response:
            pointer = response["$ref"].removeprefix("#")
            response = resolve(pointer)
        for header in response.get("headers", {}):
            assert header in answer.headers, (pointer, header)
        if "content" not in response:
            assert answer.content == b"", pointer
            return
        assert answer.headers["content-type"].startswith("application/json")
        body_pointer = f"{pointer}/content/{pointer_escape('application/json')}/schema"
        validator = Draft202012Validator({"$ref": f"{BASE}#{body_pointer}"},
                                         registry=REGISTRY,
                                         format_checker=Draft202012Validator.FORMAT_CHECKER)
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                  for e in validator.iter_errors(answer.json())]
        assert not errors, (pointer, answer.json(), errors)


@pytest.fixture
def service(start_serve: Callable[..., Serve]) -> Serve:
    return start_serve(env={"SEGFN_SECRET_KEY": generate_key()})


def other_workspace(serve: Serve) -> str:
    """The owner token of a second workspace in the same service."""
    done = subprocess.run([*SEGFN, "admin", "create-workspace", "other", "--data-dir",
                           str(serve.data_dir)], capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[-1]


def test_every_answer_of_a_real_service_matches_the_document(service: Serve) -> None:
    api = Checked(service)
    fn = {"function": "greeter"}

    # The document itself, without a token; who am I.
    assert api("GET", "/openapi.json", 200, token="") == document()
    assert api("GET", "/whoami", 200)["workspace"]["name"] == "default"

    # Functions: create, refuse, save versions, read.
    created = api("POST", "/functions", 201, json={
        "name": "greeter", "code": CODE, "settings_schema": SCHEMA_V1,
        "description": "says hello"})
    assert created["version"]["number"] == 1
    api("POST", "/functions", 409, json={"name": "greeter", "code": CODE})
    error = api("POST", "/functions", 422, json={"name": "broken", "code": "def on_request(:"})
    assert error["error"]["type"] == "CompileError"
    error = api("POST", "/functions", 422, json={
        "name": "badschema", "code": CODE, "settings_schema": [{"label": 3}]})
    assert error["error"]["type"] == "InvalidConfiguration"
    saved = api("PATCH", "/functions/{function}", 200, params=fn,
                json={"settings_schema": SCHEMA_V2})
    assert saved["created"] and saved["version"]["number"] == 2
    assert not api("PATCH", "/functions/{function}", 200, params=fn,
                   json={"description": "says hello, twice"})["created"]
    api("PATCH", "/functions/{function}", 422, params=fn, json={"code": "def ("})
    api("PATCH", "/functions/{function}", 404, params={"function": "nope"}, json={})
    assert [f["name"] for f in api("GET", "/functions", 200)["functions"]] == ["greeter"]
    assert api("GET", "/functions/{function}", 200, params=fn)["latest_version"] == 2
    api("GET", "/functions/{function}", 404, params={"function": "nope"})
    versions = api("GET", "/functions/{function}/versions", 200, params=fn)["versions"]
    assert [v["number"] for v in versions] == [2, 1]
    version = api("GET", "/functions/{function}/versions/{number}", 200,
                  params={**fn, "number": 2})
    assert version["code"] == CODE
    api("GET", "/functions/{function}/versions/{number}", 404, params={**fn, "number": 9})
    api("GET", "/functions/{function}/versions", 404, params={"function": "nope"})

    # The tester.
    result = api("POST", "/functions/{function}/test", 200, params=fn, json={
        "payload": {"body": {"user": "u7"}, "headers": {"Content-Type": ["application/json"]}},
        "settings": {"repo": "segfn", "apiKey": "k-1"}})
    assert result["ok"] and result["messages"][0]["event"] == "Pinged"
    api("POST", "/functions/{function}/test", 404, params=fn,
        json={"payload": {}, "version": 7})

    # Two sources with an encrypted setting.
    settings = {"repo": "segfn", "apiKey": "secret-1"}
    alpha = api("POST", "/sources", 201, json={"name": "alpha", "function": "greeter",
                                                "settings": settings})
    beta = api("POST", "/sources", 201, json={"name": "beta", "function": "greeter",
                                               "version": 2, "settings": settings})
    assert alpha["secrets"] == beta["secrets"] == {"apiKey": "set"}
    assert alpha["settings"] == {"repo": "segfn"}
    api("POST", "/sources", 409, json={"name": "alpha", "function": "greeter"})
    api("POST", "/sources", 404, json={"name": "gamma", "function": "nope"})
    api("POST", "/sources", 422, json={"name": "gamma", "function": "greeter",
                                       "settings": {"repo": 5}})
    assert len(api("GET", "/sources", 200)["sources"]) == 2
    assert api("GET", "/sources/{source}", 200, params={"source": "alpha"}) == alpha
    api("GET", "/sources/{source}", 404, params={"source": "nope"})

    # Configure and pause.
    src = {"source": "alpha"}
    configured = api("PATCH", "/sources/{source}", 200, params=src,
                     json={"settings": {"repo": "other", "apiKey": None}})
    assert configured["settings"] == {"repo": "other"}
    assert configured["secrets"] == {"apiKey": "not set"}
    api("PATCH", "/sources/{source}", 422, params=src, json={"settings": {"region": "eu"}})
    api("PATCH", "/sources/{source}", 404, params={"source": "nope"}, json={})
    assert api("PATCH", "/sources/{source}", 200, params=src, json={"paused": True})["paused"]
    assert service.webhook(alpha, {"user": "u1"}).status_code == 503
    api("PATCH", "/sources/{source}", 200, params=src, json={"paused": False})

    # Deliveries (kept by beta), then their events, errors and captures.
    assert api("PATCH", "/sources/{source}", 200, params={"source": "beta"},
               json={"capture_days": 7})["capture_days"] == 7
    api("PATCH", "/sources/{source}", 400, params={"source": "beta"},
        json={"capture_days": 91})
    assert service.webhook(beta, {"user": "u9"}).status_code == 200
    assert service.webhook(beta, {"fail": True}).status_code == 400
    kept = api("GET", "/sources/{source}/deliveries", 200,
               params={"source": "beta"})["deliveries"]
    assert [d["emitted"][0]["userId"] if d["emitted"] else d["error"]["type"]
            for d in kept] == ["u9", "MessageRejected"]
    api("GET", "/sources/{source}/deliveries", 404, params={"source": "nope"})
    api("GET", "/sources/{source}/deliveries", 409, params=src)
    replayed = api("POST", "/sources/{source}/replay", 200, params={"source": "beta"},
                   json={"version": 2})
    assert (replayed["replayed"], replayed["same"]) == (2, 2)
    api("POST", "/sources/{source}/replay", 404, params={"source": "beta"},
        json={"version": 9})
    api("POST", "/sources/{source}/replay", 409, params=src, json={"version": 2})
    events = api("GET", "/sources/{source}/events", 200, params={"source": "beta"})["events"]
    assert [e["message"]["userId"] for e in events] == ["u9"]
    assert api("GET", "/sources/{source}/events?after={after}&limit=5", 200, params={
        "source": "beta", "after": events[0]["id"]})["events"] == []
    api("GET", "/sources/{source}/events?limit=none", 400, params={"source": "beta"})
    api("GET", "/sources/{source}/events", 404, params={"source": "nope"})
    logged = api("GET", "/sources/{source}/errors", 200, params={"source": "beta"})["errors"]
    assert "asked to fail" in logged[0]["error"]["message"]
    assert api("GET", "/functions/{function}/errors", 200, params=fn)["errors"] == logged
    api("GET", "/sources/{source}/errors", 404, params={"source": "nope"})
    # The embedded store: no destination, so never a dead letter.
    assert api("GET", "/sources/{source}/dead-letters", 200,
               params={"source": "beta"})["dead_letters"] == []
    api("GET", "/sources/{source}/dead-letters", 404, params={"source": "nope"})
    api("GET", "/functions/{function}/errors", 404, params={"function": "nope"})

    # Redrive: the failed delivery runs again (and fails again); with nothing to resend,
    # resending needs no destination; a dead letter from a destination it no longer has
    # cannot be resent.
    retried = api("POST", "/sources/{source}/errors/retry", 200, params={"source": "beta"},
                  json={"ids": [logged[0]["id"], 999]})
    assert [q["id"] for q in retried["queued"]] == [logged[0]["id"]]
    assert [r["id"] for r in retried["refused"]] == [999]
    api("POST", "/sources/{source}/errors/retry", 400, params={"source": "beta"}, json={})
    api("POST", "/sources/{source}/errors/retry", 404, params={"source": "nope"},
        json={"all": True})
    assert api("POST", "/sources/{source}/dead-letters/resend", 200, params={
        "source": "beta"}, json={"all": True}) == {"resent": [], "refused": [], "left": 0}
    api("POST", "/sources/{source}/dead-letters/resend", 404, params={"source": "nope"},
        json={"all": True})
    with contextlib.closing(connect(service.data_dir / DATABASE_FILE)) as db:
        db.execute("INSERT INTO dead_letters (at, status, response, batch, source, workspace)"
                   " VALUES (0, 400, 'no', '{\"batch\": []}', ?, '')", (beta["id"],))
    refused = api("POST", "/sources/{source}/dead-letters/resend", 409,
                  params={"source": "beta"}, json={"all": True})
    assert "--segment-endpoint" in refused["error"]["message"]

    # Deploy: refused as a whole when a source lacks a newly required setting.
    api("PATCH", "/functions/{function}", 200, params=fn, json={"settings_schema": SCHEMA_V3})
    api("POST", "/functions/{function}/deploy", 422, params=fn, json={"sources": "all"})
    deployed = api("POST", "/functions/{function}/deploy", 200, params=fn,
                   json={"sources": ["alpha", beta["id"]], "version": 2})["deployed"]
    assert [s["version"] for s in deployed] == [2, 2]
    api("POST", "/functions/{function}/deploy", 404, params=fn, json={"sources": ["nope"]})
    api("POST", "/functions/{function}/deploy", 404, params={"function": "nope"},
        json={"sources": "all"})

    # Shadow: version 3 needs a setting alpha lacks; version 1 may shadow it.
    shadow = "/sources/{source}/shadow"
    assert api("GET", shadow, 200, params=src)["version"] is None
    api("PUT", shadow, 422, params=src, json={"version": 3})
    assert api("PUT", shadow, 200, params=src, json={"version": 1})["shadow_version"] == 1
    api("PUT", shadow, 404, params=src, json={"version": 9})
    api("PUT", shadow, 404, params={"source": "nope"}, json={"version": 1})
    assert api("GET", shadow, 200, params=src)["version"] == 1
    api("GET", shadow, 404, params={"source": "nope"})
    assert api("DELETE", shadow, 200, params=src)["version"] == 1
    api("DELETE", shadow, 404, params={"source": "nope"})

    # Tokens: a reader of greeter, a source admin, an owner's refusals.
    reader = api("POST", "/tokens", 201, json={
        "name": "reader", "roles": [{"role": "functions_read", "functions": ["greeter"]}]})
    assert reader["token"]["roles"][0]["functions"] == [created["function"]["id"]]
    ops = api("POST", "/tokens", 201, json={"name": "ops", "roles": [{"role": "source_admin"}]})
    api("POST", "/tokens", 404, json={
        "name": "nobody", "roles": [{"role": "functions_admin", "functions": ["nope"]}]})
    listed = api("GET", "/tokens", 200)["tokens"]
    assert [t["name"] for t in listed] == ["owner", "reader", "ops"]
    api("DELETE", "/tokens/{token}", 404, params={"token": "tok_0000000000000000"})
    # The console's helpers: the compile check, capture URLs (each token has its own).
    checked = api("POST", "/check", 200, json={"code": "def on_request(r, s):\n  _x = 1\n"})
    assert not checked["compiles"] and checked["problems"][0]["line"] == 2
    assert api("POST", "/check", 200, json={"code": CODE, "name": "greeter"})["compiles"]
    capture = api("POST", "/captures", 201)
    assert api("GET", "/captures/{capture}", 200, params={"capture": capture["id"]})[
        "payload"] is None
    api("GET", "/captures/{capture}", 404, token=ops["secret"],
        params={"capture": capture["id"]})
    for _ in range(MAX_CAPTURES - 1):
        api("POST", "/captures", 201)
    api("POST", "/captures", 429)
    values = {"function": "greeter", "source": "alpha", "number": 1,
              "token": ops["token"]["id"], "capture": capture["id"]}
    refuse_everything(api, values, reader["secret"], ops["secret"])

    # Another workspace sees none of this.
    other = other_workspace(service)
    api("GET", "/functions/{function}", 404, token=other, params=fn)
    api("DELETE", "/sources/{source}", 404, token=other, params={"source": alpha["id"]})
    api("DELETE", "/tokens/{token}", 404, token=other, params={"token": ops["token"]["id"]})

    # Revoke, then delete.
    api("DELETE", "/tokens/{token}", 204, params={"token": reader["token"]["id"]})
    api("GET", "/whoami", 401, token=reader["secret"])
    api("DELETE", "/functions/{function}", 409, params=fn)
    api("DELETE", "/sources/{source}", 204, params=src)
    api("DELETE", "/sources/{source}", 404, params=src)
    api("DELETE", "/functions/{function}?force=yes", 400, params=fn)
    api("DELETE", "/functions/{function}?force=true", 204, params=fn)
    api("GET", "/sources/{source}", 404, params={"source": "beta"})
    api("DELETE", "/functions/{function}", 404, params=fn)

    expected = {(method, path, int(status)) for method, path, operation in operations()
                for status in operation["responses"]}
    assert sorted(expected - api.seen) == []


def refuse_everything(api: Checked, values: dict[str, Any], reader: str, ops: str) -> None:
    """The refusals every operation of a kind can give: 401 without a token, 400, 413 and
    415 for a body, 403 for a token without the role; and 405 on every path."""
    # A functions_read token of greeter may read and test it, and nothing else.
    reader_may = {"getOpenApi", "whoami", "listFunctions", "getFunction", "listVersions",
                  "getVersion", "testFunction", "functionErrors"}
    # source_admin may do everything with sources, and read the functions.
    ops_may = {"getOpenApi", "whoami", "listFunctions", "getFunction", "listVersions",
               "getVersion", "deploy", "listSources", "connectSource", "getSource",
               "configureSource", "deleteSource", "sourceErrors", "sourceEvents",
               "retrySourceErrors", "resendSourceDeadLetters", "sourceDeliveries",
               "replaySource", "sourceShadow", "startShadow", "endShadow"}
    for method, path, operation in operations():
        statuses, call = operation["responses"], {"params": values}
        if "401" in statuses:
            api(method, path, 401, token="", **call)
        if "403" in statuses:
            refused = ops if operation["operationId"] in reader_may else reader
            assert operation["operationId"] not in (ops_may if refused is ops else reader_may)
            api(method, path, 403, token=refused, **call,
                **({"json": valid_body(path)} if "requestBody" in operation else {}))
        if "requestBody" in operation:
            api(method, path, 415, content=b"{}", headers={"Content-Type": "text/plain"},
                **call)
            api(method, path, 413, content=b" " * (MAX_API_BODY + 1),
                headers={"Content-Type": "application/json"}, **call)
            api(method, path, 400, json={"unknown": 1}, **call)

    for path, route in api_routes().items():
        method = next(m for m in ("PUT", "DELETE", "POST", "GET") if m not in route.handlers)
        answer = api.serve.api(method, path.format(**values))
        assert answer.status_code == 405, answer.text
        api.check(answer, "/components/responses/MethodNotAllowed")
        assert answer.headers["allow"] == route.allow
        assert route.allow in answer.json()["error"]["message"]
    answer = api.serve.api("GET", "/functions/greeter/nothing-here")
    assert answer.status_code == 404
    api.check(answer, "/components/responses/NotFound")


def valid_body(path: str) -> dict[str, Any]:
    """A body the endpoint takes, so that only the role is missing."""
    return {"/functions": {"name": "refused", "code": CODE},
            "/functions/{function}": {"description": "refused"},
            "/functions/{function}/test": {"payload": {"body": {}}},
            "/functions/{function}/deploy": {"sources": []},
            "/sources": {"name": "refused", "function": "greeter"},
            "/sources/{source}": {"paused": False},
            "/sources/{source}/errors/retry": {"all": True},
            "/sources/{source}/dead-letters/resend": {"all": True},
            "/sources/{source}/replay": {"version": 1},
            "/sources/{source}/shadow": {"version": 1},
            "/tokens": {"name": "refused", "roles": [{"role": "functions_read"}]},
            "/check": {"code": CODE}}[path]
