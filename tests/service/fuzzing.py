"""Requests for the API fuzz (test_api_fuzz.py), generated from a seeded ``random``.

Every route with every method; bodies that are nearly right (a field missing, mistyped or
extra, values from pools of awkward ones); raw bytes that are barely JSON or not at all;
odd path parameters and query strings; every kind of Authorization header and content
type; bodies over the limit.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from runner.service.access import ROLES
from runner.service.bodies import MAX_API_BODY
from runner.service.openapi import document
from runner.service.records import NAME_LENGTH
from runner.service.settings_schema import MAX_DESCRIPTION, MAX_LABEL, MAX_NAME, TYPES
from tests.service.test_openapi import api_routes, resolve

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

ECHO = """\
from segfn import Segment, console


def on_request(request, settings):
    body = request.json()
    console.log("settings:", len(settings))
    properties = body if isinstance(body, dict) else {"body": body}
    Segment.track({"event": "Echo", "anonymousId": "fuzz", "properties": properties})
"""
LOUD = """\
from segfn import console


def on_request(request, settings):
    for n in range(200):
        console.log("line", n, "x" * 100)
"""
FAILS = """\
from segfn import ValidationError


def on_request(request, settings):
    raise ValidationError("no")
"""
QUIET = "def on_request(request, settings):\n    pass\n"
CODES = (ECHO, LOUD, FAILS, QUIET)
SETTINGS = [{"label": "Repo"}, {"label": "API Key", "encrypted": True},
            {"label": "Count", "type": "number"}, {"label": "Enabled", "type": "boolean"},
            {"label": "Tags", "type": "array"}, {"label": "Labels", "type": "text_map"},
            {"label": "Notes", "type": "text"}]
SETTING_NAMES = ("repo", "apiKey", "count", "enabled", "tags", "labels", "notes", "region")

STRINGS = ("", " ", "x", "\x00", "a\x00b", "ünïcödé", "😀", "\u202eevil", "e\u0301",
           "\ufeff", "\ufffd", "𝔘𝔫𝔦", "null", "true", "0", "-1", "all", "../..", "%00",
           "<script>", "' OR 1=1 --", "\\", '"', "\n\r\t", "fn_0000000000000000",
           "x" * 10_000)
NUMBERS = (0, 1, 2, 3, -1, 7, 2**31 - 1, 2**31, 2**53 + 1, 2**63, -(2**63), 10**30,
           -(10**30), 10**400, 0.5, -0.0, 1e-300, 1.7e308, -1.7e308, 3.14)

NAMES = ("", "-x", ".x", "a" * NAME_LENGTH, "a" * (NAME_LENGTH + 1), "ünï", "a b", "a/b",
         "x\x00", "ok.name-1_")
BAD_CODE = ("", "def on_request(:", "def on_request(request, settings)\n    pass\n",
            "import os\n", "while True:\n    pass\n", "x = 1\n", "a\x00b", "(" * 300,
            "-" * 5000 + "1", "1+" * 5000 + "1",
            "def on_request(r, s):\n    return __import__('os')\n")
URLS = ("http://localhost/", "https://example.com/a?b=c#d", "http://[::1", "ftp://x/",
        "", "/relative", "http://localhost:99999/", "http://ünï.example/", "x" * 3000)
GRANTED = (*ROLES, "admin", "", None, 3)
# Path parameters as they go on the request line, already percent-encoded.
RAW_PARAMS = ("..", ".", "%2e%2e", "%2E", "%00", "%ff", "%ff%fe", "%", "%zz", "%2",
              "a%2Fb", "%2F", "%ED%A0%80", "%F0%9F%92%A9", "%C2%B2", "~", "x" * 4000,
              "%20", "+", "a;b", "%23", "%3F", "fn_%00")
NUMBER_PARAMS = ("1", "2", "3", "0", "-1", "99", "²", "٣", "9" * 5000, "1e3", "0x1", "01",
                 " 1", "2147483648", "999999999999")
QUERIES = ("force=true", "force=TRUE", "force=false", "force=yes", "force=", "force",
           "force=%00", "after=0", "after=1", "after=-1", "after=%C2%B2",
           "after=" + "9" * 5000, "limit=0", "limit=1", "limit=1001", "limit=abc",
           "limit=%F0%9F%92%A9", "after=1&after=x", "%zz=%zz", "a[]=1", "=", "&&",
           "x=" + "y" * 3000)
CONTENT_TYPES = ("application/json", "application/json; charset=utf-8", "Application/JSON",
                 "application/json;", " application/json ", "text/plain",
                 "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "",
                 None, "application/json-patch+json", "*/*", "application/jsonx", b"\xff")
RAW_BODIES = (
    b"", b" ", b"{", b"}", b"{}", b"[]", b"1", b"null", b'"x"', b"true", b"NaN",
    b'{"a": NaN}', b'{"version": Infinity}', b'{"version": -Infinity}',
    b'{"version": 1e400}', b'{"description": 1e400}',
    b'{"payload": {"body": {"x": 1e400}}}', b'{"payload": {"body": [-1e400]}}',
    b"\xff\xfe{}", b'{"name": "\xff"}', b'{"name": "\xed\xa0\x80"}',
    '{"name": "x"}'.encode("utf-16"), b"\xef\xbb\xbf{}", b'{"\\ud800": 1}',
    b'{"name": "\\udfff"}', b'{"description": "\\ud83d\\ude00"}', b'{"a": "\\u0000"}',
    b"[" * 5000, b'{"a":' * 3000, b"[" * 990 + b"]" * 990,
    b'{"payload": ' + b"[" * 120 + b"]" * 120 + b"}", b'{"name":"a","name":1}',
    b"{} x", b"\x00", b"1" * 4400, b'{"version": ' + b"9" * 4400 + b"}",
    b'{"name": "' + b"a" * 100 + b'"', b"name=x&code=y", b'{"name": "x", }',
    b"{'name': 'x'}", b'{"payload": {"body": "\\u0000", "headers": {"\\n": "\\r"}}}',
)


@dataclass
class World:
    """What the fuzz knows of the service: tokens, and references for paths and bodies."""

    port: int
    secrets: dict[str, str]  # by kind: owner, admin, reader, ops, revoked, other...
    refs: dict[str, list[str]]  # by path parameter: function, source, token, capture
    # Never DELETEd: the fixtures the fuzz keeps needing (its own tokens among them).
    protected: set[str] = field(default_factory=set)

    def learn(self, method: str, path: str, status: int, answer: bytes) -> None:
        """Keep what a successful create made, to be used (and deleted) later."""
        if method != "POST" or status != 201:
            return
        made = json.loads(answer)
        if path == "/functions":
            self.refs["function"] += [made["function"]["id"], made["function"]["name"]]
        elif path == "/sources":
            self.refs["source"] += [made["id"], made["name"]]
        elif path == "/tokens":
            self.refs["token"].append(made["token"]["id"])
            self.secrets[f"fuzz-{made['token']['id']}"] = made["secret"]
        elif path == "/captures":
            self.refs["capture"].append(made["id"])


@dataclass
class Fuzzed:
    """One generated request."""

    method: str
    path: str  # the route's path, or "" for a path no route takes
    target: str  # what goes on the request line
    headers: dict[str, str | bytes]
    body: bytes | list[bytes] | None  # a list is sent chunked

    def __str__(self) -> str:
        body = b"".join(self.body) if isinstance(self.body, list) else self.body or b""
        shown = repr(body[:200]) + (f"... ({len(body)} bytes)" if len(body) > 200 else "")
        return f"{self.method} {self.target[:200]} {self.headers} {shown}"


# Path parameters for the sweep: what it may change, and what it may delete.
KEPT = {"function": "stable", "source": "stable-src", "number": "1",
        "token": "tok_0000000000000000", "capture": "cap_0000000000000000"}
DELETED = {**KEPT, "function": "victim", "source": "victim-src"}


class Generator:
    """Requests made from a seeded ``random.Random``."""

    def __init__(self, rng: random.Random, world: World) -> None:
        self.rng = rng
        self.world = world
        self.routes = sorted(api_routes().items())
        self.fresh = 0

    def request(self) -> Fuzzed:
        rng = self.rng
        if rng.random() < 0.03:  # a path no route takes
            path, target = "", "/api/v1/" + "/".join(self.param("any") for _ in range(3))
            method = rng.choice(METHODS)
        else:
            path, route = rng.choice(self.routes)
            method = (rng.choice(sorted(route.handlers)) if rng.random() < 0.85
                      else rng.choice(METHODS))
            target = "/api/v1" + self.fill(path, method)
        if rng.random() < 0.35:
            target += "?" + "&".join(rng.choice(QUERIES) for _ in range(rng.randint(1, 3)))
        headers = self.auth()
        body: bytes | list[bytes] | None = None
        if method in ("POST", "PATCH", "PUT") or rng.random() < 0.05:
            kind = rng.choice(CONTENT_TYPES) if rng.random() < 0.12 else "application/json"
            if kind is not None:
                headers["Content-Type"] = kind
            body = self.body(path, method)
        return Fuzzed(method, path, target, headers, body)

    # Paths

    def fill(self, path: str, method: str) -> str:
        parts = path.split("/")
        for n, part in enumerate(parts):
            if part.startswith("{"):
                parts[n] = self.param(part[1:-1], deleting=method == "DELETE")
        return "/".join(parts)

    def param(self, name: str, deleting: bool = False) -> str:
        """A path parameter, percent-encoded for the request line."""
        rng, refs = self.rng, self.world.refs
        roll = rng.random()
        if name == "number" and roll < 0.7:
            return quote(rng.choice(NUMBER_PARAMS), safe="")
        if name in refs and roll < 0.65:
            usable = [r for r in refs[name] if not (deleting and r in self.world.protected)]
            text = rng.choice(usable or [f"{name}-gone"])
        elif roll < 0.8:  # a reference to another kind of resource
            text = rng.choice([r for pool in refs.values() for r in pool])
        elif roll < 0.9:
            return rng.choice(RAW_PARAMS)
        else:
            text = rng.choice(STRINGS)[:500]
        return quote(text, safe="")

    # Headers

    def auth(self) -> dict[str, str | bytes]:
        rng, secrets = self.rng, self.world.secrets
        roll = rng.random()
        if roll < 0.5:
            return {"Authorization": f"Bearer {secrets['owner']}"}
        if roll < 0.8:
            # In the order made, not sorted: the secrets differ from run to run.
            return {"Authorization": f"Bearer {rng.choice(list(secrets.values()))}"}
        return rng.choice(self.garbled())

    def garbled(self) -> list[dict[str, str | bytes]]:
        """Missing, malformed and almost right Authorization headers."""
        owner = self.world.secrets["owner"]
        values: list[str | bytes] = [
            "", "Bearer", "Bearer ", f"bearer {owner}", f"BEARER {owner}",
            f"Bearer    {owner}   ", f"Token {owner}", "Basic dXNlcjpwYXNz", owner,
            f"Bearer {owner[:-1]}", "Bearer sfn_", "Bearer " + "x" * 5000,
            b"Bearer \xff\xfe\x80", f"Bearer {owner}\t"]
        return [{}, *({"Authorization": value} for value in values)]

    # Once each: every route and method, every Authorization, every malformed body

    def sweep(self) -> Iterator[Fuzzed]:
        owner = {"Authorization": f"Bearer {self.world.secrets['owner']}"}
        secrets = [{"Authorization": f"Bearer {secret}"}
                   for secret in self.world.secrets.values()]
        for path, route in self.routes:
            for method in METHODS:
                yield self.fixed(path, method, owner,
                                 b"{}" if method in ("POST", "PATCH", "PUT") else None)
            for method in route.handlers:
                takes_body = "requestBody" in document()["paths"][path][method.lower()]
                for auth in [*self.garbled(), *secrets]:
                    body = self.near(self.fields(path, method)) if takes_body else None
                    yield self.fixed(path, method, auth,
                                     None if body is None else json.dumps(body).encode())
                for raw in RAW_BODIES if takes_body else ():
                    yield self.fixed(path, method, owner, raw)

    def fixed(self, path: str, method: str, headers: dict[str, str | bytes],
              body: bytes | None) -> Fuzzed:
        """A request to the fuzz's fixtures; DELETE aims at the ones it may lose."""
        params = DELETED if method == "DELETE" else KEPT
        headers = {**headers, "Content-Type": "application/json"} if body else dict(headers)
        return Fuzzed(method, path, "/api/v1" + path.format(**params), headers, body)

    # Bodies

    def body(self, path: str, method: str) -> bytes | list[bytes]:
        rng = self.rng
        roll = rng.random()
        if roll < 0.015:  # over the limit, sometimes without a Content-Length
            big = b'{"description": "' + b"x" * MAX_API_BODY + b'"}'
            return [big[i:i + 65536] for i in range(0, len(big), 65536)] if rng.random() < 0.5 \
                else big
        if roll < 0.17:
            return rng.choice(RAW_BODIES)
        if roll < 0.25:
            return json.dumps(self.value()).encode()
        document = self.near(self.fields(path, method))
        # ensure_ascii=False: raw UTF-8 as well as \\u escapes reach the server.
        return json.dumps(document, ensure_ascii=rng.random() < 0.5).encode()

    def fields(self, path: str, method: str) -> tuple[list[str], list[str]]:
        """The (required, optional) fields of the endpoint's body, from the document."""
        operation = document()["paths"].get(path, {}).get(method.lower(), {})
        if "requestBody" not in operation:
            return [], ["name", "code", "version"]
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        schema = resolve(schema["$ref"].removeprefix("#"))
        required = schema.get("required", [])
        return required, [f for f in schema["properties"] if f not in required]

    def near(self, fields: tuple[list[str], list[str]]) -> dict[str, Any]:
        """A body close to right: each field likely there, some wrong, maybe one extra."""
        rng = self.rng
        required, optional = fields
        body = {name: self.field(name) for name in required if rng.random() < 0.93}
        body |= {name: self.field(name) for name in optional if rng.random() < 0.5}
        if body and rng.random() < 0.2:
            body[rng.choice(sorted(body))] = self.value()
        if rng.random() < 0.08:
            body[rng.choice(["extra", "Name", "id", "", "\x00", "ünï"])] = self.value()
        return body

    def field(self, name: str) -> Any:
        """A value for a body field: mostly of the right kind, sometimes anything."""
        rng, refs = self.rng, self.world.refs
        if rng.random() < 0.1:
            return self.value()
        if name == "name":
            self.fresh += 1
            return rng.choice([f"fz-{self.fresh}", f"fz-{self.fresh}", rng.choice(NAMES),
                               rng.choice(refs["function"] + refs["source"])])
        if name == "code":
            return rng.choice(CODES) if rng.random() < 0.7 else rng.choice(BAD_CODE)
        if name == "settings_schema":
            return [self.setting_spec() for _ in range(rng.choice([0, 1, 2, 3, 7, 101]))]
        if name in ("description", "write_key"):
            return rng.choice([*STRINGS, None])
        if name == "version":
            return rng.choice([1, 1, 2, 3, *NUMBERS, None, "1", True])
        if name in ("function", "source"):
            return rng.choice(refs[name] + refs["function" if name == "source" else "source"])
        if name == "sources":
            return rng.choice(["all", "none", [], None, [rng.choice(refs["source"])],
                               rng.sample(refs["source"], k=min(3, len(refs["source"]))),
                               [self.value()]])
        if name == "settings":
            return self.settings()
        if name == "payload":
            return self.payload()
        if name == "paused":
            return rng.choice([True, False, 0, "true", None])
        if name == "roles":
            return [self.grant() for _ in range(rng.choice([0, 1, 1, 2, 3]))]
        return self.value()

    def setting_spec(self) -> Any:
        rng = self.rng
        if rng.random() < 0.1:
            return self.value()
        spec = {"label": rng.choice(["Repo", "API Key", "2nd key", "Clé", "!!!",
                                     "x" * (MAX_LABEL + 1), *STRINGS[:12]]),
                "type": rng.choice([*TYPES, "int", None, ["string"]]),
                "name": rng.choice(["repo", "apiKey", "Bad Name", "_x", None, 1,
                                    "a" * (MAX_NAME + 1)]),
                "required": rng.choice([True, False, None, "yes"]),
                "encrypted": rng.choice([True, False, None, 1]),
                "description": rng.choice(["", "d", None, "x" * (MAX_DESCRIPTION + 1), 5]),
                "extra": 1}
        return {k: v for k, v in spec.items() if rng.random() < 0.6 or k == "label"}

    def settings(self) -> Any:
        rng = self.rng
        if rng.random() < 0.1:
            return self.value()
        typed = {"repo": "segfn", "apiKey": "k-secret", "count": rng.choice(NUMBERS),
                 "enabled": rng.choice([True, False]), "tags": ["a", "b"],
                 "labels": {"k": "v"}, "notes": "n", "region": "eu"}
        return {name: typed[name] if rng.random() < 0.6 else self.value()
                for name in rng.sample(SETTING_NAMES, k=rng.randint(0, 4))}

    def payload(self) -> Any:
        rng = self.rng
        if rng.random() < 0.1:
            return self.value()
        payload = {"body": self.value() if rng.random() < 0.5 else {"user": "u1", "n": 1},
                   "headers": {rng.choice(["Content-Type", "X-Event", "\n", "", "ü"]):
                               rng.choice(["application/json", ["text/plain"], 5, None,
                                           ["a", "b"], [{"x": 1}], "text/html"])},
                   rng.choice(["queryParameters", "queryParams"]): rng.choice(
                       [{"a": "1"}, {"a": ["1", "2"]}, {"a": {"b": None}}, "a=1", []]),
                   "url": rng.choice(URLS)}
        return {k: v for k, v in payload.items() if rng.random() < 0.5 or k == "body"}

    def grant(self) -> Any:
        rng, refs = self.rng, self.world.refs
        if rng.random() < 0.1:
            return self.value()
        grant = {"role": rng.choice(GRANTED),
                 "functions": rng.choice([None, [], [rng.choice(refs["function"])],
                                          ["nope"], "all", [3]])}
        if rng.random() < 0.05:
            grant["extra"] = 1
        return {k: v for k, v in grant.items() if rng.random() < 0.8 or k == "role"}

    def value(self, depth: int = 0) -> Any:
        """Any JSON value, small or awkward: deep, long, unicode, big numbers."""
        rng = self.rng
        roll = rng.random()
        if depth >= 3 or roll < 0.55:
            return rng.choice([None, True, False, rng.choice(NUMBERS), rng.choice(STRINGS)])
        if roll < 0.75:
            return [self.value(depth + 1) for _ in range(rng.randint(0, 4))]
        if roll < 0.93:
            return {rng.choice(STRINGS)[:50]: self.value(depth + 1)
                    for _ in range(rng.randint(0, 4))}
        # Around the API's limit of 100 levels.
        deep: Any = rng.choice([[], {}, "x"])
        for _ in range(rng.choice([5, 50, 98, 99, 100, 101, 150])):
            deep = [deep] if rng.random() < 0.5 else {"k": deep}
        return deep
