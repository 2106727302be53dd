"""``fetch`` and ``fetch_all`` from a handler: real workers, a real server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from segfn.fetch import FetchAnswer, FetchRequest
from segfn.sandbox import egress
from segfn.sandbox.compiler import Handler
from segfn.sandbox.egress import Egress, EgressPolicy
from segfn.sandbox.invocation import HttpRequest, Job, Result
from segfn.sandbox.pool import BlockingPool
from tests.local_http import LocalServer, local_server

Run = Callable[..., Result]


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with local_server() as running:
        yield running


@pytest.fixture
def run(pool: BlockingPool, server: LocalServer) -> Iterator[Run]:
    """Run handler source (``{url}`` is the local server) with real, loopback-allowed egress."""
    performers: list[Egress] = []

    def run(source: str, **policy: Any) -> Result:
        performer = Egress(EgressPolicy(allow_loopback=True, **policy))
        performers.append(performer)
        code = textwrap.dedent(source).replace("{url}", server.url)
        return pool.invoke(Job(Handler(code, "handler.py"), HttpRequest(b"{}")), performer)

    yield run
    for performer in performers:
        pool.run(performer.aclose())


def test_a_response_has_status_headers_text_and_json(run: Run) -> None:
    result = run("""
        def on_request(request, settings):
            response = fetch("{url}/echo", method="post", headers={"X-Token": "t"},
                             json={"a": 1})
            echoed = response.json()
            console.log(response.status, response.ok, response.headers.get("Content-Type"))
            console.log(echoed["method"], echoed["headers"]["x-token"],
                        echoed["headers"]["content-type"], echoed["body"])
            console.log(isinstance(response.content, bytes),
                        response.text() == response.content.decode())
    """)
    assert result.logs == ["200 True application/json",
                           'POST t application/json {"a": 1}',
                           "True True"]


def test_a_non_2xx_status_is_a_response_not_an_error(run: Run) -> None:
    result = run("""
        def on_request(request, settings):
            response = fetch("{url}/status/404")
            console.log(response.status, response.ok, response.headers.get("x-test"))
            console.log(response.text(), response.json()["status"])
    """)
    assert result.ok, result.error
    assert result.logs == ["404 False yes", '{"status": 404} 404']


def test_a_network_failure_is_bad_request(run: Run) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))  # bound, not listening: the connection is refused
        port = probe.getsockname()[1]
        result = run(f"""
            def on_request(request, settings):
                fetch("http://127.0.0.1:{port}/")
        """)
    assert result.error is not None and result.error.type == "BadRequest"
    assert result.error.message.startswith("FetchError: fetch http://127.0.0.1:")


def test_a_network_failure_turned_into_retry_error_is_retried(run: Run) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        result = run(f"""
            def on_request(request, settings):
                try:
                    fetch("http://127.0.0.1:{port}/")
                except FetchError as exc:
                    raise RetryError("upstream down")
        """)
    assert result.error is not None and result.error.type == "Retry"
    assert "upstream down" in result.error.message


def test_fetch_all_runs_requests_concurrently_and_in_order(run: Run,
                                                          server: LocalServer) -> None:
    result = run("""
        def on_request(request, settings):
            responses = fetch_all([{"url": "{url}/sleep/300"},
                                   {"url": "{url}/status/201", "method": "POST"},
                                   {"url": "{url}/sleep/301"}])
            console.log([r.status for r in responses], responses[0].text())
    """)
    assert result.logs == ["[200, 201, 200] slept"]
    assert server.hits["/sleep/300"] == server.hits["/sleep/301"] == 1
    assert server.peak_sleeping == 2  # both sleeps were in progress at once


def test_fetch_all_raises_the_first_failure_unless_asked_to_return_it(run: Run) -> None:
    source = """
        def on_request(request, settings):
            answers = fetch_all([{"url": "{url}/echo"}, {"url": "http://169.254.169.254/"}],
                                return_exceptions=RETURN)
            console.log([isinstance(a, FetchError) for a in answers], answers[0].status,
                        "link-local" in str(answers[1]))
    """
    returned = run(source.replace("RETURN", "True"))
    assert returned.logs == ["[False, True] 200 True"]
    raised = run(source.replace("RETURN", "False"))
    assert raised.error is not None and raised.error.type == "BadRequest"
    assert "FetchError" in raised.error.message and "link-local" in raised.error.message


def test_fetch_all_asks_at_most_so_many_requests_at_once(run: Run, server: LocalServer
                                                        ) -> None:
    result = run("""
        def on_request(request, settings):
            for count in (MAX, MAX + 1):
                answers = fetch_all([{"url": "{url}/echo"}] * count, return_exceptions=True)
                console.log(count, sum(isinstance(a, FetchError) for a in answers),
                            str(answers[-1]) if isinstance(answers[-1], FetchError) else "")
    """.replace("MAX", str(egress.MAX_FETCH_REQUESTS)))
    cap = egress.MAX_FETCH_REQUESTS
    assert result.logs == [f"{cap} 0 ", f"{cap + 1} {cap + 1} refused: fetch_all of {cap + 1} "
                                        f"requests; at most {cap} requests a call"]
    assert server.hits["/echo"] == cap


def test_fetch_all_responses_over_the_total_are_fetch_errors(run: Run) -> None:
    # Each alone is under the per-response cap, together they are over the total.
    size = egress.MAX_FETCH_BYTES * 2 // 5
    result = run("""
        def on_request(request, settings):
            answers = fetch_all([{"url": "{url}/bytes/SIZE"}] * 5, return_exceptions=True)
            errors = [str(a) for a in answers if isinstance(a, FetchError)]
            console.log([len(a.content) for a in answers if not isinstance(a, FetchError)])
            console.log(len(errors), all(e.endswith("bytes in total") for e in errors))
    """.replace("SIZE", str(size)))
    assert result.ok, result.error
    whole = json.loads(result.logs[0])
    assert all(n == size for n in whole) and sum(whole) <= egress.MAX_FETCH_BYTES
    assert result.logs[1] == f"{5 - len(whole)} True"


def test_fetch_all_responses_up_to_the_total_come_back_whole(run: Run) -> None:
    size = egress.MAX_FETCH_BYTES // 2 - 64 * 1024  # room for the headers
    result = run("""
        def on_request(request, settings):
            answers = fetch_all([{"url": "{url}/bytes/SIZE"}] * 2)
            console.log([len(a.content) for a in answers])
    """.replace("SIZE", str(size)))
    assert result.logs == [f"[{size}, {size}]"]


def test_cloud_metadata_is_refused_from_a_handler_without_a_connection(
        run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[Any] = []
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> Any:
        attempts.append(address)
        return real_connect(self, address)

    # The pool's parent side (this process) makes every connection a handler's fetch needs.
    monkeypatch.setattr(socket.socket, "connect", connect)
    result = run("""
        def on_request(request, settings):
            fetch("http://169.254.169.254/latest/meta-data/iam/")
    """)
    assert result.error is not None and result.error.type == "BadRequest"
    assert "link-local" in result.error.message
    assert attempts == []


def test_the_runners_own_webhooks_are_refused(run: Run, server: LocalServer) -> None:
    result = run("""
        def on_request(request, settings):
            fetch("{url}/hooks/abc", method="POST", json={})
    """, refused_prefixes=[f"{server.url}/hooks/"])
    assert result.error is not None
    assert "unable to send data back to their own webhooks" in result.error.message
    assert server.hits["/hooks/abc"] == 0


def test_fetch_arguments_are_checked_in_the_handler(run: Run) -> None:
    result = run("""
        def on_request(request, settings):
            for call in (lambda: fetch(42), lambda: fetch("{url}/", body="x", json={}),
                         lambda: fetch("{url}/", body=123)):
                try:
                    call()
                except TypeError:
                    console.log("TypeError")
                except ValueError:
                    console.log("ValueError")
    """)
    assert result.logs == ["TypeError", "ValueError", "TypeError"]


# The frames: what crosses the worker's pipe, checked on both sides


def test_requests_and_answers_cross_the_pipe_unchanged() -> None:
    request = FetchRequest("https://a.test/x", "POST", [("a", "1")], b"\x00\xff", 2.5)
    assert FetchRequest.from_dict(json.loads(json.dumps(request.to_dict()))) == request
    answer = FetchAnswer(201, "https://a.test/x", [("b", "2")], b"body")
    assert FetchAnswer.from_dict(json.loads(json.dumps(answer.to_dict()))) == answer
    failed = FetchAnswer.failed("refused: no")
    assert FetchAnswer.from_dict(failed.to_dict()) == failed


@pytest.mark.parametrize("change", [
    {"url": 5}, {"method": None}, {"headers": [["a"]]}, {"headers": "a: 1"},
    {"body": "not base64!"}, {"body": 7}, {"timeout": True}, {"timeout": "1"},
])
def test_a_request_of_the_wrong_shape_is_refused(change: dict) -> None:
    frame = {**FetchRequest("https://a.test/").to_dict(), **change}
    with pytest.raises((TypeError, ValueError)):
        FetchRequest.from_dict(frame)
