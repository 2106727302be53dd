"""The webhook endpoint in process: the order of its refusals and its rate limit.

Starlette's TestClient drives the runner's app (create_app) in this process, with a real
runtime: real worker processes, a real SQLite store. A request that breaks several rules
is refused for the first rule in SPEC 13's order; the tests fix one rule at a time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import attrs
import httpx
import pytest
from starlette.requests import Request
from starlette.testclient import TestClient

from runner.app import create_app
from runner.endpoint import WebhookLimits, delivery_url
from runner.events import read_events
from runner.observer import Observer
from runner.runtime import Runtime
from runner.source import Source
from segfn.sandbox.compiler import Handler
from segfn.sandbox.egress import Egress, EgressPolicy
from segfn.sandbox.fleet import Fleet
from segfn.sandbox.pool import WorkerPool
from tests.stored import peek

HANDLER = """
def on_request(request, settings):
    Segment.track({"userId": "u1", "event": "Hit", "properties": request.json()})
"""
MAX_BODY = 1024
# One request at once, then one every 100 s: a test never sees the bucket refill.
RATE = 0.01
JSON = {"Content-Type": "application/json"}
TOO_BIG = json.dumps({"pad": "x" * MAX_BODY})


class Refusals(Observer):
    """The statuses the endpoint reports refusing, in order."""

    def __init__(self) -> None:
        self.statuses: list[int] = []

    def refused(self, status: int, error_type: str, message: str) -> None:
        self.statuses.append(status)


@attrs.frozen
class Webhooks:
    client: TestClient
    runtime: Runtime
    refusals: Refusals


@pytest.fixture(scope="module")
def webhooks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Webhooks]:
    handler = Handler(HANDLER)
    sources = {f"/{name}": Source(name, "hits", handler, paused=name == "paused")
               for name in ("order", "first", "second", "chunked", "paused")}
    refusals = Refusals()
    runtime = Runtime(tmp_path_factory.mktemp("endpoint"), Fleet(lambda _: WorkerPool(1), 1),
                      Egress(EgressPolicy()), lambda source_id: sources.get(f"/{source_id}"),
                      observer=refusals)
    app = create_app(runtime, sources.get, WebhookLimits(max_body=MAX_BODY, rate_limit=RATE))
    with TestClient(app) as client:
        yield Webhooks(client, runtime, refusals)


def _refused(response: httpx.Response, status: int, error_type: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["ok"] is False and body["error"]["type"] == error_type, body
    return body


def test_each_rule_refuses_in_order_and_a_refusal_spends_no_rate(webhooks: Webhooks) -> None:
    client, statuses = webhooks.client, webhooks.refusals.statuses
    before = len(statuses)
    # Wrong method, path, type and size at once: the method is checked first.
    wrong = client.put("/nowhere", content=TOO_BIG, headers={"Content-Type": "text/csv"})
    _refused(wrong, 405, "MethodNotAllowed")
    assert wrong.headers["allow"] == "POST"
    _refused(client.post("/nowhere", content=TOO_BIG, headers={"Content-Type": "text/csv"}),
             404, "NotFound")
    # A paused source is refused before its request is looked at.
    paused = client.post("/paused", content=TOO_BIG, headers={"Content-Type": "text/csv"})
    _refused(paused, 503, "SourcePaused")
    assert paused.headers["retry-after"] == "60"
    _refused(client.post("/order", content=TOO_BIG, headers={"Content-Type": "text/csv"}),
             415, "UnsupportedMediaType")
    _refused(client.post("/order", content=TOO_BIG, headers=JSON), 413, "PayloadTooLarge")
    # None of these took the source's one request: it is accepted and runs.
    assert client.post("/order", json={"n": 1}).status_code == 200
    # Now over its rate, the source is still refused for type and size first.
    _refused(client.post("/order", content="a,b", headers={"Content-Type": "text/csv"}),
             415, "UnsupportedMediaType")
    _refused(client.post("/order", content=TOO_BIG, headers=JSON), 413, "PayloadTooLarge")
    limited = _refused(client.post("/order", json={"n": 2}), 429, "RateLimited")
    assert limited["error"] == {"type": "RateLimited",
                                "message": "this source is over its rate limit"}
    assert 1 <= int(client.post("/order", json={"n": 3}).headers["retry-after"]) <= 100
    # The runtime's observer heard every refusal, in order, and nothing else.
    assert statuses[before:] == [405, 404, 503, 415, 413, 415, 413, 429, 429]


def test_the_rate_limit_is_per_source(webhooks: Webhooks) -> None:
    client = webhooks.client
    assert client.post("/first", json={"n": 1}).status_code == 200
    _refused(client.post("/first", json={"n": 2}), 429, "RateLimited")
    # Another source has a bucket of its own.
    assert client.post("/second", json={"n": 1}).status_code == 200
    _refused(client.post("/second", json={"n": 2}), 429, "RateLimited")
    # What was refused was never run: each source stored its first request only.
    hits = [(e["source"], e["message"]["properties"])
            for e in peek(webhooks.runtime.store, read_events)
            if e["source"] in ("first", "second")]
    assert hits == [("first", {"n": 1}), ("second", {"n": 1})]


def test_a_body_without_a_length_is_measured_as_it_arrives(webhooks: Webhooks) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(4):
            yield b" " * (MAX_BODY // 2)

    # No Content-Length to refuse up front: the endpoint stops reading past the limit.
    response = webhooks.client.post("/chunked", content=chunks(), headers=JSON)
    assert "content-length" not in response.request.headers
    _refused(response, 413, "PayloadTooLarge")


def test_a_webhook_path_takes_only_post(webhooks: Webhooks) -> None:
    for method in ("GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"):
        response = webhooks.client.request(method, "/order")
        assert response.status_code == 405, method
        assert response.headers["allow"] == "POST"



@pytest.mark.parametrize("scope", [
    {"path": "/", "headers": [(b"host", b"example.com")]},
    {"path": "/fn/tok", "query_string": b"a=1&b=%20", "headers": [(b"host", b"h:8080")]},
    {"scheme": "https", "path": "/x", "server": ("10.0.0.1", 443), "headers": []},
    {"path": "/x", "server": ["::1", 8000], "headers": []},
    {"path": "/x", "server": ("127.0.0.1", 80), "headers": [(b"host", b"bad host!")]},
    {"path": "/a?b#c\\d", "headers": [(b"host", b"[::1]:99")]},
    {"path": "//double", "headers": []},
    {"path": "/x", "query_string": b"q", "headers": [(b"x-other", b"1"), (b"host", b"H")]},
])
def test_a_deliverys_url_is_the_one_starlette_makes(scope: dict[str, Any]) -> None:
    scope = {"type": "http", "method": "POST", **scope}
    for _ in range(2):  # made, then remembered
        assert delivery_url(scope) == str(Request(scope).url)
