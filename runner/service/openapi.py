"""The OpenAPI 3.1 document of the service API, describing runner/service/api.py as it
answers.

docs/service-api.md is the prose; this is the same contract for machines: every path and
method, their parameters and bodies, and every status each can answer with its body. The
request bodies come from their declaration in runner/service/contract.py, the roles, setting
types, names and limits from the modules that check them; the answers are built by the
small helpers below (an error answer, an operation with the refusals every authenticated or
body-taking endpoint can give), once per process. tests/service/test_openapi.py holds it to
the routes and to a real service's answers.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from runner import captures, redrive, shadow
from runner.service import contract
from runner.service.access import FUNCTION_ROLES, ROLES
from runner.service.bodies import MAX_API_BODY, MAX_DIGITS, MAX_NESTING
from runner.service.captures import MAX_CAPTURES, TTL
from runner.service.contract import Schema, closed
from runner.service.contract import component as schema
from runner.service.records import NAME_PATTERN
from runner.service.settings_schema import (
    MAX_DESCRIPTION,
    MAX_LABEL,
    MAX_NAME,
    SETTING_NAME_PATTERN,
)
from runner.service.settings_schema import TYPES as SETTING_TYPES
from segfn.respond import JSON_TYPE, MAX_REPLY_BYTES, TEXT_TYPE

JSON = "application/json"
_MIB = f"{MAX_API_BODY // 2**20} MiB"

# Every refusal with a fixed type: the response component, its status, and when.
ERRORS: dict[str, tuple[int, str]] = {
    "InvalidRequest": (400, "Malformed JSON (or not UTF-8, NaN, a number beyond a double's "
                            f"range, a lone surrogate, nesting over {MAX_NESTING} deep), a "
                            "missing, mistyped or unknown field, or an invalid query "
                            "parameter."),
    "Unauthorized": (401, "No bearer token, or an unknown or revoked one."),
    "Forbidden": (403, "The token sees the resource, but its roles do not allow this."),
    "NotFound": (404, "No such resource in the token's workspace, or one the token cannot "
                      "see; also any path this document does not list."),
    "MethodNotAllowed": (405, "A method the path does not take; `Allow` lists those it "
                              "does."),
    "Conflict": (409, "A name already taken in the workspace, deleting a function that "
                      "sources use, or resending dead letters with no Tracking API to "
                      "send them to."),
    "PayloadTooLarge": (413, f"A body over {_MIB}."),
    "TooManyCaptures": (429, f"{MAX_CAPTURES} capture URLs are open already."),
    "UnsupportedMediaType": (415, "A body whose Content-Type is not application/json."),
}
# The 422 answers, whose type depends on the endpoint.
UNPROCESSABLE: dict[str, tuple[str, ...]] = {
    "InvalidFunction": ("CompileError", "InvalidConfiguration"),
    "InvalidConfiguration": ("InvalidConfiguration",),
}
# What every endpoint that reads a body can refuse, before looking at its fields.
BODY_ERRORS = ("InvalidRequest", "PayloadTooLarge", "UnsupportedMediaType")


# Small schema helpers

def ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def array(items: Schema, **keywords: Any) -> Schema:
    return {"type": "array", "items": items, **keywords}


def nullable(of: Schema) -> Schema:
    return {"anyOf": [of, {"type": "null"}]}


def string(**keywords: Any) -> Schema:
    return {"type": "string", **keywords}


def identifier(prefix: str) -> Schema:
    return string(pattern=f"^{prefix}_[0-9a-f]{{16}}$")


def text(description: str) -> Schema:
    return string(description=description)


def any_object(description: str) -> Schema:
    return {"type": "object", "description": description}


def json_body(of: Schema) -> dict[str, Any]:
    return {"content": {JSON: {"schema": of}}}


# The shapes of docs/service-api.md

def _grant(function: Schema, *, sent: bool) -> Schema:
    """A Grant as the API shows it, or as it is ``sent`` (``functions`` optional)."""
    role = {"role": {"enum": list(ROLES)}}
    functions = {"functions": nullable(array(function))}
    shape = closed(role, functions) if sent else closed({**role, **functions})
    # Only the functions roles name functions; the others cover the whole workspace.
    whole_workspace = [role for role in ROLES if role not in FUNCTION_ROLES]
    shape["if"] = {"properties": {"role": {"enum": whole_workspace}}}
    shape["then"] = {"properties": {"functions": {"type": "null"}}}
    shape["description"] = "functions: null (or, when sent, absent) covers all."
    return shape


def _version(with_code: bool) -> Schema:
    fields: dict[str, Schema] = {
        "number": {"type": "integer", "minimum": 1},
        "created_at": schema("Time"),
        "created_by": identifier("tok"),
        "created_by_name": nullable(string(description="The name of that token.")),
        "code_sha256": string(pattern="^[0-9a-f]{64}$"),
        "settings_schema": array(schema("SettingSpec")),
    }
    if with_code:
        fields["code"] = string()
    return closed(fields)


def _schemas() -> dict[str, Schema]:
    failure = closed({"type": string(), "message": string()})
    # A test's error also says where in the code it happened; a webhook's answer never does.
    located_failure = closed({"type": string(), "message": string()}, {
        "where": text("FILE:LINE in the function's code; empty when nowhere in particular.")})
    header_value = {"type": ["string", "number"]}
    return {
        "Error": closed({"ok": {"const": False}, "error": failure},
                        description="Every refusal of the API."),
        "Time": string(format="date-time",
                       pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$",
                       description="ISO 8601 UTC with milliseconds."),
        "Name": string(pattern=NAME_PATTERN,
                       description="Unique in the workspace among functions (or sources)."),
        "Workspace": closed({"id": identifier("ws"), "name": string()}),
        "SettingSpec": closed({
            "label": string(), "name": string(pattern=SETTING_NAME_PATTERN),
            "type": {"enum": list(SETTING_TYPES)}, "description": string(),
            "required": {"type": "boolean"}, "encrypted": {"type": "boolean"}}),
        "NewSettingSpec": closed(
            {"label": string(minLength=1, maxLength=MAX_LABEL)},
            {"name": {"type": ["string", "null"], "pattern": SETTING_NAME_PATTERN,
                      "maxLength": MAX_NAME},
             "type": {"enum": [*SETTING_TYPES, None]},
             "description": {"type": ["string", "null"], "maxLength": MAX_DESCRIPTION},
             "required": {"type": ["boolean", "null"]},
             "encrypted": {"type": ["boolean", "null"]}},
            description="A setting as sent: the name defaults to the label in camelCase, "
                        "the type to string; null means the default."),
        "Function": closed({
            "id": identifier("fn"), "name": schema("Name"), "description": string(),
            "latest_version": {"type": "integer", "minimum": 1},
            "created_at": schema("Time"), "updated_at": schema("Time")}),
        "VersionSummary": _version(with_code=False),
        "Version": _version(with_code=True),
        "FunctionSaved": closed({
            "function": schema("Function"), "version": schema("VersionSummary"),
            "created": {"type": "boolean",
                        "description": "False when neither code nor schema changed."}}),
        "Source": closed({
            "id": identifier("src"), "name": schema("Name"), "function": identifier("fn"),
            "version": {"type": "integer", "minimum": 1},
            "settings": any_object("The values of the unencrypted settings."),
            "secrets": {"type": "object", "additionalProperties": {"enum": ["set", "not set"]},
                        "description": "Every encrypted setting of the version's schema."},
            "webhook_url": string(format="uri"), "paused": {"type": "boolean"},
            "allow_get": {"type": "boolean",
                          "description": "GET reaches the handler too (else only POST)."},
            "capture_days": {"type": "integer", "minimum": 0, "maximum": captures.MAX_DAYS,
                             "description": "Days each delivery is kept for replay; 0: "
                                            "none."},
            "dedup_header": {"type": ["string", "null"],
                             "description": "The source's own header of delivery ids."},
            "shadow_version": {"type": ["integer", "null"], "minimum": 1,
                               "description": "The version its live deliveries also run, "
                                              "compared and discarded; null: none."},
            "write_key": {"type": ["string", "null"]},
            "created_at": schema("Time"), "updated_at": schema("Time")}),
        "Delivery": closed({
            "id": {"type": "integer", "description": "What a replay's diffs name."},
            "at": {"type": "number", "description": "Unix time."},
            "expires_at": {"type": "number", "description": "Unix time it is deleted."},
            "source": identifier("src"), "invocation_id": string(),
            "request": nullable(closed({
                "url": string(),
                "headers": array(array(string(), minItems=2, maxItems=2)),
                "body": string()}, description="Shown as the errors log shows it (the "
                                               "exact request is kept encrypted); null when "
                                               "sealed under a key the service no longer "
                                               "has.")),
            "emitted": array(any_object("A message as the function made it.")),
            "error": nullable(located_failure)}),
        "Replayed": closed({
            "replayed": {"type": "integer", "minimum": 0},
            "same": {"type": "integer", "minimum": 0},
            "changed": {"type": "integer", "minimum": 0},
            "failed": {"type": "integer", "minimum": 0},
            "diffs": array(closed({
                "delivery": {"type": "integer"},
                "before": array(any_object("A message emitted when it was received, "
                                           "without messageId, timestamp and "
                                           "context.library.")),
                "after": array(any_object("A message the replay emitted, likewise.")),
                "error": nullable(failure)}))}),
        "ShadowReport": closed({
            "source": identifier("src"),
            "version": {"type": ["integer", "null"], "minimum": 1,
                        "description": "The version shadowing the source; null: none."},
            "since": {"type": ["number", "null"],
                      "description": "Unix time of its first delivery counted."},
            "compared": {"type": "integer", "minimum": 0,
                         "description": "same + changed + failed."},
            **{outcome: {"type": "integer", "minimum": 0}
               for outcome in ("same", "changed", "failed")},
            "skipped": {"type": "integer", "minimum": 0,
                        "description": f"Deliveries not shadowed: past the "
                                       f"{shadow.RUNNING_AT_ONCE} shadows a node runs at "
                                       "once, or with the sandbox unavailable."},
            "diffs": array(closed({
                "delivery": text("The live invocation's id."),
                "at": {"type": "number", "description": "Unix time."},
                "before": array(any_object("A message the live version emitted, without "
                                           "messageId, timestamp and context.library.")),
                "after": array(any_object("A message the shadow emitted, likewise.")),
                "error": nullable(failure)}),
                description=f"The newest {shadow.KEEP_DIFFS} that were not the same, "
                            "newest first.")}),
        "Grant": _grant(identifier("fn"), sent=False),
        "NewGrant": _grant(text("A function's id or name."), sent=True),
        "Token": closed({
            "id": identifier("tok"), "name": string(),
            "roles": array(schema("Grant"), minItems=1), "created_at": schema("Time"),
            "last_used_at": nullable(schema("Time")),
            "revoked_at": nullable(schema("Time"))}),
        "TokenCreated": closed({
            "token": schema("Token"),
            "secret": string(pattern="^sfn_[A-Za-z0-9_-]{43}$",
                             description="Shown this once.")}),
        "ErrorEntry": closed({
            "id": {"type": "integer", "description": "What errors/retry takes."},
            "at": {"type": "number", "description": "Unix time."},
            "source": string(),
            "function": text("Empty when the source was deleted before a retry."),
            "invocation_id": string(), "error": failure,
            "request": closed({
                "url": string(),
                "headers": array(array(string(), minItems=2, maxItems=2)),
                "body": string()}),
            "logs": array(string()), "attempts": {"type": "integer", "minimum": 1},
            "retryable": {"type": "boolean", "description": (
                "Whether the original request is kept, to be run again; not when it "
                "was redacted and the service has no secret key to encrypt it.")}}),
        "Retried": closed({
            "queued": array(closed({"id": {"type": "integer"}, "invocation_id": string()}),
                            description="Run again now, as one more attempt."),
            "refused": array(schema("NotRedriven")),
            "left": {"type": "integer", "description": "Entries beyond this call's "
                                                       f"{redrive.AT_ONCE}, with all."}}),
        "Resent": closed({
            "resent": array(closed({"id": {"type": "integer"},
                                    "messages": {"type": "integer"}}),
                            description="Back in the outbox, under the source's write key."),
            "refused": array(schema("NotRedriven")),
            "left": {"type": "integer", "description": "Entries beyond this call's "
                                                       f"{redrive.AT_ONCE}, with all."}}),
        "NotRedriven": closed({"id": {"type": "integer"}, "reason": string()}),
        "DeadLetter": closed({
            "id": {"type": "integer"}, "at": {"type": "number", "description": "Unix time."},
            "source": identifier("src"), "workspace": string(),
            "status": {"type": "integer", "description": "The destination's answer."},
            "response": text("The start of the destination's answer body."),
            "batch": any_object("The batch refused, as it was sent: its one message.")}),
        "Event": closed({
            "id": {"type": "integer"}, "source": identifier("src"),
            "invocation_id": string(), "received_at": {"type": "number"},
            "message": any_object("The message as the function made it.")}),
        "Payload": {
            "type": "object", "description": "A recorded delivery (SPEC 12); other keys "
                                             "are ignored.",
            "properties": {
                "body": {"description": "An object (sent as JSON), a string, or null."},
                "headers": {"type": "object", "additionalProperties": {
                    "anyOf": [header_value, array(header_value)]}},
                "queryParameters": {"type": "object"}, "queryParams": {"type": "object"},
                "url": string()}},
        "TestResult": closed({
            "ok": {"type": "boolean"}, "messages": array({"type": "object"}),
            "objects": array({"type": "object"}),
            "logs": array(string(), description="The first 4 KiB."),
            "logs_truncated": {"type": "boolean"}, "error": nullable(located_failure),
            "duration_ms": {"type": "number", "minimum": 0},
            "reply": nullable(closed({
                "content_type": {"enum": [JSON_TYPE, TEXT_TYPE]},
                "body": string(maxLength=MAX_REPLY_BYTES)},
                description="The answer to a verification handshake: respond(...).")),
        }),
        "CodeChecked": closed({
            "compiles": {"type": "boolean"},
            "problems": array(closed({
                "line": {"type": ["integer", "null"], "minimum": 1,
                         "description": "null: the problem is the file's, not a line's."},
                "message": string()}))}),
        "Capture": closed({
            "id": identifier("cap"),
            "url": string(format="uri", description="POST a delivery here; no token."),
            "expires_at": schema("Time"),
            "payload": nullable(schema("Payload"))},
            description=f"A capture URL, open {TTL // 60} minutes; payload is the first "
                        "delivery POSTed to it, as a test request takes it."),
        **{body.name: body.schema() for body in contract.BODIES},
    }


# Parameters

def _parameters() -> dict[str, dict[str, Any]]:
    def path(name: str, description: str, of: Schema) -> dict[str, Any]:
        return {"name": name, "in": "path", "required": True, "description": description,
                "schema": of}

    def query(name: str, description: str, of: Schema) -> dict[str, Any]:
        return {"name": name, "in": "query", "required": False, "description": description,
                "schema": of}

    return {
        "function": path("function", "The function's id or name.", string()),
        "source": path("source", "The source's id or name.", string()),
        "number": path("number", "A version number; anything else is 404.",
                       {"type": "integer", "minimum": 1}),
        "token": path("token", "The token's id.", string()),
        "capture": path("capture", "The capture's id.", string()),
        "force": query("force", "true also deletes the sources using the function (any "
                                "case).", {"type": "boolean", "default": False}),
        "after": query("after", "Only events with a greater id.",
                       {"type": "integer", "minimum": 0, "maximum": 10**MAX_DIGITS - 1,
                        "default": 0}),
        "newest": query("newest", "true: the newest events (of those past after), newest "
                                  "first (any case).", {"type": "boolean", "default": False}),
        "limit": query("limit", "At most this many events; above 1000 reads as 1000.",
                       {"type": "integer", "minimum": 1, "maximum": 10**MAX_DIGITS - 1,
                        "default": 100}),
    }


# Responses

def _responses() -> dict[str, dict[str, Any]]:
    def error(description: str, *types: str) -> dict[str, Any]:
        typed = {"properties": {"error": {"properties": {"type": {"enum": list(types)}}}}}
        return {"description": description,
                **json_body({"allOf": [schema("Error"), typed]})}

    responses = {name: error(when, name) for name, (_, when) in ERRORS.items()}
    responses["MethodNotAllowed"]["headers"] = {"Allow": {
        "description": "The methods this path takes.", "schema": string()}}
    responses["InvalidFunction"] = error(
        "The code does not compile, imports a module handlers may not import (or contains "
        "the service's webhook URL), or the "
        "settings schema is invalid.", *UNPROCESSABLE["InvalidFunction"])
    responses["InvalidConfiguration"] = error(
        "Setting values that do not satisfy the version's schema, or that this service "
        "cannot keep (no secret key, no write key).", *UNPROCESSABLE["InvalidConfiguration"])
    return responses


def status_of(response: str) -> int:
    """The status of an error response component."""
    return 422 if response in UNPROCESSABLE else ERRORS[response][0]


def operation(operation_id: str, summary: str, status: int, answer: Schema | None, *,
              roles: str, tag: str, errors: Iterable[str] = (),
              body: contract.Body | None = None, parameters: Iterable[str] = (),
              public: bool = False) -> dict[str, Any]:
    """One method of a path: its answer, and every refusal it can give.

    An authenticated operation can answer 401; one with a ``body`` can answer 400, 413
    and 415 before looking at its fields. ``errors`` names the other refusals.
    """
    refusals = {*errors, *(() if public else ("Unauthorized",)),
                *(BODY_ERRORS if body is not None else ())}
    done = ({"description": "Done.", **json_body(answer)} if answer is not None
            else {"description": "Done; no body."})
    responses = {str(status): done} | {
        str(status_of(name)): ref("responses", name)
        for name in sorted(refusals, key=status_of)}
    found: dict[str, Any] = {"operationId": operation_id, "summary": summary,
                             "description": f"Roles: {roles}.", "tags": [tag],
                             "responses": responses}
    if parameters:
        found["parameters"] = [ref("parameters", name) for name in parameters]
    if body is not None:
        found["requestBody"] = {"required": True, **json_body(schema(body.name))}
    if public:
        found["security"] = []
    return found


def listing(key: str, item: str) -> Schema:
    return closed({key: array(schema(item))})


def _paths() -> dict[str, dict[str, Any]]:
    function, source = [ref("parameters", "function")], [ref("parameters", "source")]
    # The functions roles: which grants an operation on one function needs.
    visible = "workspace_owner; functions_admin, functions_read covering it; source_admin"
    editors = "workspace_owner, functions_admin covering it"
    testers = "workspace_owner, functions_admin or functions_read covering it"
    sources = "workspace_owner, source_admin"
    owner = "workspace_owner"
    return {
        "/openapi.json": {"get": operation(
            "getOpenApi", "This document", 200, {"type": "object"}, roles="none (no token)",
            tag="service", public=True)},
        "/whoami": {"get": operation(
            "whoami", "The token's workspace and the token", 200,
            closed({"workspace": schema("Workspace"), "token": schema("Token")}),
            roles="any", tag="service")},
        "/functions": {
            "get": operation("listFunctions", "The functions the token sees", 200,
                             listing("functions", "Function"), roles=visible,
                             tag="functions"),
            "post": operation("createFunction", "Create a function and its version 1", 201,
                              schema("FunctionSaved"), body=contract.NEW_FUNCTION,
                              errors=("Forbidden", "Conflict", "InvalidFunction"),
                              roles="workspace_owner, functions_admin of all functions",
                              tag="functions"),
        },
        "/functions/{function}": {
            "parameters": function,
            "get": operation("getFunction", "A function", 200, schema("Function"),
                             errors=("NotFound",), roles=visible, tag="functions"),
            "patch": operation("saveFunction", "Save code, schema or description; a new "
                                               "version when code or schema changed", 200,
                               schema("FunctionSaved"), body=contract.FUNCTION_CHANGES,
                               errors=("Forbidden", "NotFound", "InvalidFunction"),
                               roles=editors, tag="functions"),
            "delete": operation("deleteFunction", "Delete a function and its versions", 204,
                                None, parameters=("force",),
                                errors=("InvalidRequest", "Forbidden", "NotFound",
                                        "Conflict"),
                                roles=editors, tag="functions"),
        },
        "/functions/{function}/versions": {
            "parameters": function,
            "get": operation("listVersions", "Every version, newest first", 200,
                             listing("versions", "VersionSummary"), errors=("NotFound",),
                             roles=visible, tag="functions"),
        },
        "/functions/{function}/versions/{number}": {
            "parameters": [*function, ref("parameters", "number")],
            "get": operation("getVersion", "A version with its code", 200, schema("Version"),
                             errors=("NotFound",), roles=visible, tag="functions"),
        },
        "/functions/{function}/test": {
            "parameters": function,
            "post": operation("testFunction", "Run a version once on a recorded delivery; "
                                              "nothing is delivered", 200,
                              schema("TestResult"), body=contract.TEST_REQUEST,
                              errors=("Forbidden", "NotFound"), roles=testers,
                              tag="functions"),
        },
        "/functions/{function}/errors": {
            "parameters": function,
            "get": operation("functionErrors", "The function's errors log, newest first",
                             200, listing("errors", "ErrorEntry"),
                             errors=("Forbidden", "NotFound"), roles=testers,
                             tag="functions"),
        },
        "/functions/{function}/deploy": {
            "parameters": function,
            "post": operation("deploy", "Move sources to a version, all or none", 200,
                              listing("deployed", "Source"), body=contract.DEPLOY_REQUEST,
                              errors=("Forbidden", "NotFound", "InvalidConfiguration"),
                              roles=sources, tag="sources"),
        },
        "/sources": {
            "get": operation("listSources", "Every source of the workspace", 200,
                             listing("sources", "Source"), errors=("Forbidden",),
                             roles=sources, tag="sources"),
            "post": operation("connectSource", "Connect a source to a function version", 201,
                              schema("Source"), body=contract.NEW_SOURCE,
                              errors=("Forbidden", "NotFound", "Conflict",
                                      "InvalidConfiguration"),
                              roles=sources, tag="sources"),
        },
        "/sources/{source}": {
            "parameters": source,
            "get": operation("getSource", "A source", 200, schema("Source"),
                             errors=("Forbidden", "NotFound"), roles=sources, tag="sources"),
            "patch": operation("configureSource", "Merge settings, set the write key, pause "
                                                  "or resume", 200, schema("Source"),
                               body=contract.SOURCE_CHANGES,
                               errors=("Forbidden", "NotFound", "InvalidConfiguration"),
                               roles=sources, tag="sources"),
            "delete": operation("deleteSource", "Delete a source", 204, None,
                                errors=("Forbidden", "NotFound"), roles=sources,
                                tag="sources"),
        },
        "/sources/{source}/errors": {
            "parameters": source,
            "get": operation("sourceErrors", "The source's errors log, newest first", 200,
                             listing("errors", "ErrorEntry"),
                             errors=("Forbidden", "NotFound"), roles=sources, tag="sources"),
        },
        "/sources/{source}/errors/retry": {
            "parameters": source,
            "post": operation("retrySourceErrors", "Run entries of the errors log again, "
                                                   "with the version deployed now", 200,
                              schema("Retried"), body=contract.RETRY_REQUEST,
                              errors=("Forbidden", "NotFound"), roles=sources,
                              tag="sources"),
        },
        "/sources/{source}/dead-letters/resend": {
            "parameters": source,
            "post": operation("resendSourceDeadLetters", "Send dead letters to the "
                                                         "destination again", 200,
                              schema("Resent"), body=contract.RESEND_REQUEST,
                              errors=("Forbidden", "NotFound", "Conflict"), roles=sources,
                              tag="sources"),
        },
        "/sources/{source}/dead-letters": {
            "parameters": source,
            "get": operation("sourceDeadLetters", "Messages the destination refused for "
                                                  "good, oldest first", 200,
                             listing("dead_letters", "DeadLetter"),
                             errors=("Forbidden", "NotFound"), roles=sources, tag="sources"),
        },
        "/sources/{source}/events": {
            "parameters": source,
            "get": operation("sourceEvents", "Events the source stored in the embedded "
                                             "store, oldest first (or newest)", 200,
                             listing("events", "Event"),
                             parameters=("after", "limit", "newest"),
                             errors=("InvalidRequest", "Forbidden", "NotFound"),
                             roles=sources, tag="sources"),
        },
        "/sources/{source}/deliveries": {
            "parameters": source,
            "get": operation("sourceDeliveries", "The source's captured deliveries (see "
                                                 "capture_days), oldest of the newest "
                                                 f"{captures.LISTED} first", 200,
                             listing("deliveries", "Delivery"),
                             errors=("Forbidden", "NotFound", "Conflict"), roles=sources,
                             tag="sources"),
        },
        "/sources/{source}/replay": {
            "parameters": source,
            "post": operation("replaySource", "Run captured deliveries through a version "
                                              "with the source's settings, deliver nothing, "
                                              "and compare what they emit", 200,
                              schema("Replayed"), body=contract.REPLAY_REQUEST,
                              errors=("Forbidden", "NotFound", "Conflict"), roles=sources,
                              tag="sources"),
        },
        "/sources/{source}/shadow": {
            "parameters": source,
            "get": operation("sourceShadow", "How the source's shadow deploy compared so far",
                             200, schema("ShadowReport"), errors=("Forbidden", "NotFound"),
                             roles=sources, tag="sources"),
            "put": operation("startShadow", "Make live deliveries also run a version, "
                                            "compared and discarded; counting starts afresh",
                             200, schema("Source"), body=contract.SHADOW_REQUEST,
                             errors=("Forbidden", "NotFound", "InvalidConfiguration"),
                             roles=sources, tag="sources"),
            "delete": operation("endShadow", "End the shadow deploy; answers its last report",
                                200, schema("ShadowReport"),
                                errors=("Forbidden", "NotFound"), roles=sources,
                                tag="sources"),
        },
        "/tokens": {
            "get": operation("listTokens", "Every token of the workspace, revoked ones too",
                             200, listing("tokens", "Token"), errors=("Forbidden",),
                             roles=owner, tag="tokens"),
            "post": operation("createToken", "Create a token; its secret is shown once", 201,
                              schema("TokenCreated"), body=contract.NEW_TOKEN,
                              errors=("Forbidden", "NotFound"), roles=owner, tag="tokens"),
        },
        "/tokens/{token}": {
            "parameters": [ref("parameters", "token")],
            "delete": operation("revokeToken", "Revoke a token", 204, None,
                                errors=("Forbidden", "NotFound"), roles=owner, tag="tokens"),
        },
        "/check": {
            "post": operation("checkCode", "Compile code as saving it would, saving nothing",
                              200, schema("CodeChecked"), body=contract.CODE_CHECK,
                              roles="any", tag="functions"),
        },
        "/captures": {
            "post": operation("createCapture", "Open a capture URL, whose first delivery "
                                               "becomes a test request", 201,
                              schema("Capture"), errors=("TooManyCaptures",), roles="any",
                              tag="functions"),
        },
        "/captures/{capture}": {
            "parameters": [ref("parameters", "capture")],
            "get": operation("getCapture", "A capture URL of this token, and what it caught",
                             200, schema("Capture"), errors=("NotFound",), roles="any",
                             tag="functions"),
        },
    }


_DESCRIPTION = f"""\
Functions, versions, sources and tokens of a `segfn serve` workspace; the webhooks
themselves are at `/fn/<token>`, outside this API. Every operation but this document's
needs `Authorization: Bearer <token>`, and sees only the token's workspace. Bodies are
JSON objects (UTF-8, at most {_MIB}). Every GET also answers HEAD. Every refusal is
`{{"ok": false, "error": {{"type", "message"}}}}`; a method a path does not take is 405
(`#/components/responses/MethodNotAllowed`), a path not listed here 404, and a listed
path with a trailing slash a 307 redirect to the path without it."""


@functools.cache
def document() -> dict[str, Any]:
    """The OpenAPI document; built once and shared, so callers must not change it."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "segfn service API", "version": "1", "description": _DESCRIPTION},
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "tags": [{"name": "service"}, {"name": "functions"}, {"name": "sources"},
                 {"name": "tokens"}],
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
            "parameters": _parameters(),
            "responses": _responses(),
            "securitySchemes": {"bearer": {
                "type": "http", "scheme": "bearer",
                "description": "An API token: sfn_ and 43 url-safe characters."}},
        },
    }
