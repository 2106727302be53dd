"""Capture URLs: the next real POST to one becomes a test request, and nothing else does."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from segfn.sandbox.webhook import MAX_BODY_BYTES
from tests.service.harness import Serve


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    service = Serve(tmp_path_factory.mktemp("captures") / "data", [])
    service.start()
    yield service
    service.stop()


def test_the_first_delivery_is_kept_as_a_payload_and_the_next_refused(serve: Serve) -> None:
    capture = serve.api("POST", "/captures").json()
    assert capture["url"].startswith(serve.url.rstrip("/") + "/capture/")
    caught = httpx.post(capture["url"] + "?ref=7", content=b'{"a": [1, 2]}', timeout=10,
                        headers={"Content-Type": "application/json", "X-Event": "one"})
    assert caught.status_code == 200 and caught.json() == {"ok": True, "captured": True}
    payload = serve.api("GET", f"/captures/{capture['id']}").json()["payload"]
    assert payload["body"] == {"a": [1, 2]}
    assert payload["headers"]["x-event"] == ["one"]
    assert "host" not in payload["headers"] and "content-length" not in payload["headers"]
    assert payload["url"] == "https://example.com/?ref=7"
    # The tester takes it as it is.
    made = serve.api("POST", "/functions", json={
        "name": "echo", "code": "def on_request(request, settings):\n"
                                "    Segment.track({'event': 'E', 'userId': 'u',"
                                " 'properties': request.json()})\n"})
    assert made.status_code == 201, made.text
    tested = serve.api("POST", "/functions/echo/test", json={"payload": payload}).json()
    assert tested["messages"][0]["properties"] == {"a": [1, 2]}

    again = httpx.post(capture["url"], json={"b": 1}, timeout=10)
    assert again.status_code == 409 and again.json()["ok"] is False
    assert serve.api("GET", f"/captures/{capture['id']}").json()["payload"]["body"] == {
        "a": [1, 2]}


def test_a_text_body_stays_text_and_a_wrong_or_oversized_post_is_refused(serve: Serve
                                                                         ) -> None:
    capture = serve.api("POST", "/captures").json()
    assert httpx.post(capture["url"] + "x", json={}, timeout=10).status_code == 404
    big = httpx.post(capture["url"], content=b"x" * (MAX_BODY_BYTES + 1), timeout=30)
    assert big.status_code == 413 and big.json()["ok"] is False
    assert serve.api("GET", f"/captures/{capture['id']}").json()["payload"] is None
    assert httpx.post(capture["url"], content=b"a=1&b=2", timeout=10, headers={
        "Content-Type": "application/x-www-form-urlencoded"}).status_code == 200
    assert serve.api("GET", f"/captures/{capture['id']}").json()["payload"]["body"] == "a=1&b=2"
