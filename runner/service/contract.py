"""The request bodies of the service API, declared once.

A ``Body`` names its required and optional fields; a ``Field`` holds the JSON types the
API checks at the boundary and the rest of its JSON Schema. From that one declaration come
the check of what callers send (``Body.check``), the request-body schemas of the OpenAPI
document (``Body.schema``) and the list of bodies in docs/service-api.md (``markdown``;
``python -m runner.service.contract`` rewrites it there). What a schema says beyond the
types (a name's pattern, a settings schema's settings, a token's roles) the endpoint checks
further on, with messages of its own.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from runner.captures import KEEP_BYTES_PER_SOURCE, KEEP_PER_SOURCE, MAX_DAYS
from runner.redrive import AT_ONCE
from runner.service.bodies import MAX_API_BODY, MAX_NESTING
from runner.service.problems import InvalidRequest
from runner.service.records import NAME_PATTERN, TOKEN_NAME_LENGTH
from runner.service.settings_schema import MAX_DESCRIPTION, MAX_LABEL, MAX_NAME, MAX_SETTINGS

Schema = dict[str, Any]

# Each JSON type as Python reads it, its name in JSON Schema, and in a refusal.
_JSON_TYPES: dict[type, tuple[str, str]] = {
    str: ("string", "a string"), int: ("integer", "an integer"),
    bool: ("boolean", "true or false"), list: ("array", "a list"), dict: ("object", "an object"),
    type(None): ("null", "null")}


def component(name: str) -> Schema:
    """A reference to a schema of the OpenAPI document's components."""
    return {"$ref": f"#/components/schemas/{name}"}


def closed(required: Mapping[str, Schema], optional: Mapping[str, Schema] | None = None,
           **keywords: Any) -> Schema:
    """An object with exactly these properties, the ``required`` ones always present."""
    shape: Schema = {"type": "object", "properties": {**required, **(optional or {})}}
    if required:
        shape["required"] = list(required)
    return {**shape, "additionalProperties": False, **keywords}


@attrs.frozen
class Field:
    """A field of a body: the JSON types it may have, and the rest of its JSON Schema."""

    types: tuple[type, ...]
    keywords: Mapping[str, Any] = attrs.field(factory=dict)

    def schema(self) -> Schema:
        names = [_JSON_TYPES[kind][0] for kind in self.types]
        return {"type": names[0] if len(names) == 1 else names, **self.keywords}

    def accepts(self, value: Any) -> bool:
        # JSON true is a Python int too; a boolean is never a number here.
        return isinstance(value, self.types) and (
            bool in self.types or not isinstance(value, bool))


# Every integer a body may hold is at most this (JSON's safe integers), so that none
# overflows a database column or a float on its way.
MAX_INTEGER = 2**53 - 1


def field(*types: type, ref: str | None = None, **keywords: Any) -> Field:
    """A ``Field`` of these types; ``ref`` names a component its value also matches. An
    integer field is bounded by ``MAX_INTEGER`` either way unless given narrower bounds."""
    if int in types:
        keywords = {"minimum": -MAX_INTEGER, "maximum": MAX_INTEGER, **keywords}
    return Field(types, {**(component(ref) if ref else {}), **keywords})


def out_of_bounds(value: Any, schema: Mapping[str, Any]) -> str | None:
    """What is wrong with ``value`` against ``schema``'s ``minimum`` and ``maximum`` (or
    its items' bounds, for a list), in words; None when it is within them."""
    if isinstance(value, list):
        items = schema.get("items", {})
        wrong = next(filter(None, (out_of_bounds(item, items) for item in value)), None)
        return wrong and f"integers {wrong}"
    low, high = schema.get("minimum"), schema.get("maximum")
    if not isinstance(value, int) or isinstance(value, bool) or low is None or high is None:
        return None
    return None if low <= value <= high else f"from {low} to {high}"


@attrs.frozen
class Body:
    """A request body: a JSON object of these fields and no others."""

    name: str  # its schema's name in the OpenAPI document
    required: Mapping[str, Field]
    optional: Mapping[str, Field] = attrs.field(factory=dict)

    @property
    def fields(self) -> dict[str, Field]:
        """Every field, the required ones first."""
        return {**self.required, **self.optional}

    def check(self, document: dict[str, Any]) -> dict[str, Any]:
        """``document`` if it has the required fields, no others, each of its types."""
        fields = self.fields
        unknown = set(document) - set(fields)
        if unknown:
            raise InvalidRequest(f"unknown field(s): {', '.join(sorted(unknown))}; expected "
                                 f"{', '.join(fields)}")
        for name, declared in fields.items():
            if name not in document:
                if name in self.required:
                    raise InvalidRequest(f"{name} is required")
            elif not declared.accepts(document[name]):
                names = " or ".join(_JSON_TYPES[kind][1] for kind in declared.types)
                raise InvalidRequest(f"{name} must be {names}")
            elif bounds := out_of_bounds(document[name], declared.keywords):
                raise InvalidRequest(f"{name} must be {bounds}")
        return document

    def schema(self) -> Schema:
        return closed({k: f.schema() for k, f in self.required.items()},
                      {k: f.schema() for k, f in self.optional.items()})


_VERSION = field(int, minimum=1, description="Default: the latest.")
_SETTINGS_SCHEMA = field(list, items=component("NewSettingSpec"), maxItems=MAX_SETTINGS)

NEW_FUNCTION = Body("NewFunction", {"name": field(str, ref="Name"), "code": field(str)},
                    {"settings_schema": _SETTINGS_SCHEMA, "description": field(str)})
FUNCTION_CHANGES = Body("FunctionChanges", {}, {
    "code": field(str), "settings_schema": _SETTINGS_SCHEMA, "description": field(str)})
TEST_REQUEST = Body("TestRequest", {"payload": field(dict, ref="Payload")}, {
    "settings": field(dict, description="Setting values; required ones may be left out."),
    "version": _VERSION,
    "code": field(str, description="Code not yet saved, run with the version's settings "
                                   "schema (the console's editor); only for a token that "
                                   "may edit the function.")})
DEPLOY_REQUEST = Body("DeployRequest", {"sources": field(
    str, list, anyOf=[{"const": "all"}, {"type": "array", "items": {"type": "string"}}],
    description="\"all\", or a list of sources by id or name.")}, {"version": _VERSION})
_ALLOW_GET = field(bool, description="Let GET reach the handler too, for providers that "
                   "verify a URL so. Default: false.")
_CAPTURE_DAYS = field(int, minimum=0, maximum=MAX_DAYS, description=(
    "Keep each delivery this many days, encrypted, for replay (at most "
    f"{KEEP_PER_SOURCE:,} deliveries or {KEEP_BYTES_PER_SOURCE // 2**20} MB, the oldest "
    "dropped first); 0 keeps none. Needs the service's secret key. Default: 0."))
_DEDUP_HEADER = field(str, type(None),
                      description="The name of a header in which the provider names each "
                      "delivery, besides webhook-id, X-GitHub-Delivery, X-Shopify-Webhook-Id "
                      "and Idempotency-Key: a redelivery within 24 h is answered, not run.")
NEW_SOURCE = Body(
    "NewSource",
    {"name": field(str, ref="Name"),
     "function": field(str, description="The function's id or name.")},
    {"version": _VERSION,
     "settings": field(dict, description="Values for the version's settings schema."),
     "write_key": field(str), "allow_get": _ALLOW_GET, "capture_days": _CAPTURE_DAYS,
     "dedup_header": _DEDUP_HEADER})
SOURCE_CHANGES = Body("SourceChanges", {}, {
    "settings": field(dict, description="Merged into the values; null removes one."),
    "write_key": field(str, type(None)), "paused": field(bool), "allow_get": _ALLOW_GET,
    "capture_days": _CAPTURE_DAYS, "dedup_header": _DEDUP_HEADER})
REPLAY_REQUEST = Body("ReplayRequest", {"version": field(
    int, minimum=1, description="The version of the source's function to replay through.")},
    {"since": field(int, minimum=0, description="Only deliveries received since (Unix seconds)."),
     "limit": field(int, minimum=1, description="Only the newest this many.")})
SHADOW_REQUEST = Body("ShadowRequest", {"version": field(
    int, minimum=1, description="The version of the source's function its live deliveries "
                                "also run.")},
    {"function": field(str, description="The function's id or name: the source must run "
                                        "it (a check, as segfn deploy makes).")})
# The pattern: not only whitespace, as catalog.create_token checks.
NEW_TOKEN = Body("NewToken", {
    "name": field(str, minLength=1, maxLength=TOKEN_NAME_LENGTH, pattern=r"\S"),
    "roles": field(list, items=component("NewGrant"), minItems=1)})
CODE_CHECK = Body("CodeCheck", {"code": field(str)}, {"name": field(
    str, ref="Name", description="The function's name, as the messages name its file; "
                                 "default: handler.")})


def _redrive(name: str, entries: str) -> Body:
    return Body(name, {}, {
        "ids": field(list, items={"type": "integer", "minimum": 1, "maximum": MAX_INTEGER},
                     minItems=1,
                     maxItems=AT_ONCE, description=f"The {entries}, by id."),
        "all": field(bool, description=f"true: every one of the source's {entries} (at "
                                       f"most {AT_ONCE} a call). Give ids or all.")})


RETRY_REQUEST = _redrive("RetryRequest", "errors-log entries")
RESEND_REQUEST = _redrive("ResendRequest", "dead letters")
BODIES = (NEW_FUNCTION, FUNCTION_CHANGES, TEST_REQUEST, DEPLOY_REQUEST, NEW_SOURCE,
          SOURCE_CHANGES, NEW_TOKEN, CODE_CHECK, RETRY_REQUEST, RESEND_REQUEST, REPLAY_REQUEST,
          SHADOW_REQUEST)


def redrive_selection(document: dict[str, Any]) -> list[int] | None:
    """The ids a checked ``RETRY_REQUEST`` or ``RESEND_REQUEST`` asks for; None for all."""
    ids, every = document.get("ids"), document.get("all", False)
    if (ids is None) == (not every):
        raise InvalidRequest("give ids (a list of entry ids) or \"all\": true, not both")
    if ids is None:
        return None
    if not ids or len(ids) > AT_ONCE or not all(type(i) is int and i >= 1 for i in ids):
        raise InvalidRequest(f"ids is a list of 1 to {AT_ONCE} entry ids (whole numbers "
                             "from 1)")
    return ids


# docs/service-api.md

DOCS = Path(__file__).parents[2] / "docs" / "service-api.md"
_BEGIN = "<!-- begin bodies: written by `python -m runner.service.contract` -->\n"
_END = "<!-- end bodies -->\n"
# What ``_words`` shows of a schema other than its limits, each as ``keyword value``.
_SHAPE = ("type", "$ref", "anyOf", "const", "items", "description")


def _words(schema: Schema) -> str:
    """A field's schema in a few words: its component or type, then its limits."""
    if "$ref" in schema:
        kind = schema["$ref"].rpartition("/")[2]
    elif "anyOf" in schema:
        kind = " or ".join(_words(branch) for branch in schema["anyOf"])
    elif "const" in schema:
        kind = json.dumps(schema["const"])
    elif schema["type"] == "array":
        kind = f"[{_words(schema['items'])}]"
    else:
        types = schema["type"]
        kind = " or ".join(types) if isinstance(types, list) else types
    limits = [f"{keyword} `{value}`" for keyword, value in schema.items()
              if keyword not in _SHAPE]
    return kind + (f" ({', '.join(limits)})" if limits else "")


def markdown() -> str:
    """The bodies and the limits on them, as docs/service-api.md shows them."""
    limits = textwrap.fill(
        f"A body is at most {MAX_API_BODY // 2**20} MiB ({MAX_API_BODY} bytes), nested at most "
        f"{MAX_NESTING} levels deep. A Name (of a workspace, function or source) matches "
        f"`{NAME_PATTERN}`. A settings schema has at most {MAX_SETTINGS} settings; a "
        f"setting's label is at most {MAX_LABEL} characters, its name {MAX_NAME}, its "
        f"description {MAX_DESCRIPTION}.", width=90, break_on_hyphens=False,
        break_long_words=False)
    rows = ["| body | field (`?`: optional) | schema | note |", "| --- | --- | --- | --- |"]
    for body in BODIES:
        for number, (name, declared) in enumerate(body.fields.items()):
            shape = declared.schema()
            rows.append(f"| {'' if number else body.name} | "
                        f"`{name}`{'' if name in body.required else '?'} | {_words(shape)} | "
                        f"{shape.get('description', '')} |")
    return "\n".join([limits, "", *rows, ""])


def with_bodies(docs: str) -> str:
    """``docs`` with its list of bodies rewritten from the declaration."""
    before, begin, rest = docs.partition(_BEGIN)
    _, end, after = rest.partition(_END)
    if not (begin and end):
        raise ValueError(f"the docs have no {_BEGIN.strip()} ... {_END.strip()}")
    return before + _BEGIN + markdown() + _END + after


if __name__ == "__main__":
    DOCS.write_text(with_bodies(DOCS.read_text(encoding="utf-8")), encoding="utf-8")
