"""The pytest plugin: ``load_handler``, routes for fetch, payload files, recorded fetches."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from segfn.testing import LoadedHandler
from tests.local_http import LocalServer, local_server

Load = Callable[..., LoadedHandler]

FETCH_AND_LOG = """
def on_request(request, settings):
    for url in request.json()["urls"]:
        try:
            response = fetch(url, method=request.json().get("method", "GET"))
            console.log(response.status, response.text())
        except FetchError as exc:
            console.log("FetchError", str(exc))
"""


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with local_server() as running:
        yield running


def test_routes_answer_fetches_and_later_routes_win(load_handler: Load) -> None:
    handler = load_handler(source=FETCH_AND_LOG)
    handler.respond("https://api.example/users/1", json={"name": "Mona"})
    handler.respond("https://api.example/teams/*", status=404, text="no team")
    handler.respond("https://api.example/users/1", text="overridden")
    result = handler.post(json={"urls": ["https://api.example/users/1",
                                         "https://api.example/teams/7/members"]})
    assert result.logs == ["200 overridden", "404 no team"]


def test_a_route_can_be_limited_to_a_method(load_handler: Load) -> None:
    handler = load_handler(source=FETCH_AND_LOG)
    handler.respond("https://api.example/items", method="post", status=201, text="made")
    posted = handler.post(json={"urls": ["https://api.example/items"], "method": "POST"})
    got = handler.post(json={"urls": ["https://api.example/items"]})
    assert posted.logs == ["201 made"]
    assert got.logs[0].startswith("FetchError no test response for GET")


def test_an_unanswered_fetch_says_how_to_answer_it(load_handler: Load,
                                                   server: LocalServer) -> None:
    handler = load_handler(source=FETCH_AND_LOG)
    result = handler.post(json={"urls": [f"{server.url}/echo"]})
    assert result.logs == [f"FetchError no test response for GET {server.url}/echo; "
                           "add one with handler.respond(url, ...)"]
    assert server.hits["/echo"] == 0  # no network unless asked for


def test_network_true_reaches_loopback_for_unrouted_urls(load_handler: Load,
                                                         server: LocalServer) -> None:
    handler = load_handler(source=FETCH_AND_LOG, network=True)
    handler.respond("https://api.example/*", text="routed")
    result = handler.post(json={"urls": ["https://api.example/x", f"{server.url}/status/202"]})
    assert result.logs == ["200 routed", '202 {"status": 202}']
    assert server.hits["/status/202"] == 1


def test_fetches_are_recorded_in_order(load_handler: Load) -> None:
    handler = load_handler(source="""
def on_request(request, settings):
    fetch("https://api.example/a", headers={"X-Key": settings.key})
    fetch("https://api.example/b", method="put", json={"n": 1})
""", settings={"key": "k1"})
    handler.respond("https://api.example/*")
    assert handler.post(json={}).ok
    first, second = handler.fetches
    assert (first["method"], first["url"]) == ("GET", "https://api.example/a")
    assert first["headers"]["x-key"] == first["headers"].get("X-Key") == "k1"
    assert first["headers"].get_all("X-KEY") == ["k1"] and first["timeout"] is None
    assert second["headers"]["Content-Type"] == "application/json"
    assert (second["method"], second["url"], second["body"]) == (
        "PUT", "https://api.example/b", b'{"n": 1}')


def test_post_payload_applies_overrides(load_handler: Load, tmp_path: Path) -> None:
    path = tmp_path / "delivery.json"
    path.write_text(json.dumps({
        "payload": {"body": {"action": "opened"},
                    "headers": {"X-Event": ["issues"], "X-Delivery": "d1"},
                    "queryParameters": {"q": "1"}},
        "settings": {"apiKey": "from-file", "region": "eu"},
    }))
    handler = load_handler(source="""
def on_request(request, settings):
    console.log(request.json()["action"], request.headers.get("x-event"),
                request.headers.get("x-delivery"), request.url.query)
    console.log(settings.apiKey, settings.region)
""", settings={"apiKey": "from-load"})
    as_recorded = handler.post_payload(path)
    assert as_recorded.logs == ["opened issues d1 q=1", "from-file eu"]
    overridden = handler.post_payload(path, headers={"x-event": "pull_request"},
                                      settings={"region": "us"}, query={"q": "2"})
    assert overridden.logs == ["opened pull_request d1 q=2", "from-file us"]


def test_each_loaded_handler_starts_with_an_empty_cache(load_handler: Load) -> None:
    source = """
def on_request(request, settings):
    console.log(cache.load("k", -1, lambda: request.json()["n"]))
"""
    first = load_handler(source=source)
    assert first.post(json={"n": 1}).logs == ["1"]
    assert first.post(json={"n": 2}).logs == ["1"]  # kept between posts
    assert load_handler(source=source).post(json={"n": 3}).logs == ["3"]


def test_load_handler_takes_a_path_or_source(load_handler: Load, tmp_path: Path) -> None:
    path = tmp_path / "handler.py"
    path.write_text("def on_request(request, settings):\n    console.log('from file')\n")
    assert load_handler(path).post(json={}).logs == ["from file"]
    with pytest.raises(TypeError):
        load_handler(path, source="def on_request(request, settings):\n    pass\n")
    with pytest.raises(TypeError):
        load_handler()
