"""What the webhook accepts and the request it builds (shared by the runner, invoke, pytest)."""

from __future__ import annotations

import json

import pytest

from segfn.sandbox.invocation import HttpRequest
from segfn.sandbox.webhook import (
    DEFAULT_URL,
    MAX_BODY_BYTES,
    RequestRefused,
    build_request,
    check_content_type,
    header_pairs,
    media_type,
    with_query,
)


def test_defaults() -> None:
    request = build_request()
    assert request.body == b""
    assert request.url == DEFAULT_URL
    assert request.headers == (("Content-Type", "application/json"),)


def test_raw_body_is_kept_exactly() -> None:
    raw = b'{"b": 1,\n "a": 2}'
    assert build_request(raw).body == raw
    assert build_request("Köln").body == "Köln".encode()


def test_json_body_is_json_dumps() -> None:
    request = build_request(json={"b": [1, None]})
    assert request.body == json.dumps({"b": [1, None]}).encode()
    assert request.header("content-type") == "application/json"


def test_form_body() -> None:
    request = build_request(data={"name": "Ada L", "tag": ["a", "b"]})
    assert request.body == b"name=Ada+L&tag=a&tag=b"
    assert request.header("content-type") == "application/x-www-form-urlencoded"


def test_one_body_only() -> None:
    with pytest.raises(ValueError, match="not several"):
        build_request(b"{}", json={})


@pytest.mark.parametrize(("content_type", "headers", "expected"), [
    ("application/x-www-form-urlencoded", {"Content-Type": "application/json"},
     "application/x-www-form-urlencoded"),
    (None, {"content-type": "application/json; charset=utf-8"},
     "application/json; charset=utf-8"),
    (None, {}, "application/json"),
])
def test_content_type_precedence(content_type: str | None, headers: dict[str, str],
                                 expected: str) -> None:
    request = build_request(b"", headers=headers, content_type=content_type)
    # Exactly one Content-Type, first.
    assert [v for k, v in request.headers if k.lower() == "content-type"] == [expected]
    assert request.headers[0] == ("Content-Type", expected)


@pytest.mark.parametrize("content_type", [
    "application/json", "Application/JSON", "application/json; charset=utf-8",
    "application/x-www-form-urlencoded", " application/x-www-form-urlencoded ;charset=UTF-8",
])
def test_accepted_content_types(content_type: str) -> None:
    check_content_type(content_type)
    assert media_type(content_type) in ("application/json", "application/x-www-form-urlencoded")


@pytest.mark.parametrize("content_type", [
    "text/plain", "application/xml", "multipart/form-data; boundary=x", "", None,
    "application/jsonx",
])
def test_refused_content_types(content_type: str | None) -> None:
    with pytest.raises(RequestRefused) as caught:
        check_content_type(content_type)
    assert caught.value.status == 415
    assert caught.value.type == "UnsupportedMediaType"


def test_refused_content_type_in_build_request() -> None:
    with pytest.raises(RequestRefused, match="text/plain"):
        build_request(b"hi", headers={"Content-Type": "text/plain"})


def test_body_size_limit() -> None:
    assert len(build_request(b"x" * MAX_BODY_BYTES).body) == MAX_BODY_BYTES
    with pytest.raises(RequestRefused) as caught:
        build_request(b"x" * (MAX_BODY_BYTES + 1))
    assert (caught.value.status, caught.value.type) == (413, "PayloadTooLarge")
    with pytest.raises(RequestRefused):
        build_request(b"x" * 11, max_body=10)


def test_header_lists_become_repeated_headers() -> None:
    request = build_request(b"{}", headers={"Accept": ["a", "b"], "X-One": "1",
                                            "Content-Type": ["application/json"]})
    assert request.headers == (("Content-Type", "application/json"), ("Accept", "a"),
                               ("Accept", "b"), ("X-One", "1"))
    assert request.header("accept") == "a, b"


def test_header_pairs_keep_order_and_repeats() -> None:
    assert header_pairs([("A", "1"), ("a", "2")]) == [("A", "1"), ("a", "2")]
    assert header_pairs({"A": ("1", "2"), "B": "x"}) == [("A", "1"), ("A", "2"), ("B", "x")]


@pytest.mark.parametrize(("url", "query", "expected"), [
    ("http://localhost/", None, "http://localhost/"),
    ("http://localhost/", "a=1&b=2", "http://localhost/?a=1&b=2"),
    ("http://localhost/", "?a=1", "http://localhost/?a=1"),
    ("http://h/p?old=1", "new=2", "http://h/p?new=2"),
    ("http://h/p?old=1", "", "http://h/p"),
    ("http://h/p?old=1", None, "http://h/p?old=1"),
    ("http://h/p#frag", "a=1", "http://h/p?a=1#frag"),
    ("http://h/p", {"a": "x y", "b": ["1", "2"]}, "http://h/p?a=x+y&b=1&b=2"),
])
def test_with_query(url: str, query: object, expected: str) -> None:
    assert with_query(url, query) == expected  # type: ignore[arg-type]


def test_request_url() -> None:
    assert build_request(query="a=1").url == "http://localhost/?a=1"
    assert build_request(url="https://x.test/in", query={"a": 1}).url == "https://x.test/in?a=1"


@pytest.mark.parametrize("url", ["/relative", "localhost", "http://"])
def test_a_url_that_is_not_absolute_is_a_value_error(url: str) -> None:
    with pytest.raises(ValueError, match="invalid URL") as caught:
        build_request(url=url)
    # Not something the webhook refuses: a mistake of the caller.
    assert not isinstance(caught.value, RequestRefused)


def test_a_get_has_its_query_and_no_body_or_content_type() -> None:
    request = build_request(method="GET", query={"hub.challenge": "1"},
                            headers={"User-Agent": "facebookplatform/1.0"})
    assert (request.method, request.body) == ("GET", b"")
    assert request.url == "http://localhost/?hub.challenge=1"
    assert request.header("content-type") is None
    with pytest.raises(ValueError, match="a GET has no body"):
        build_request(b"{}", method="GET")


def test_the_method_crosses_to_the_worker_and_stored_requests_without_one_were_posts() -> None:
    request = build_request(method="GET", query="a=1")
    assert HttpRequest.from_dict(request.to_dict()) == request
    older = {k: v for k, v in build_request(json={}).to_dict().items() if k != "method"}
    assert HttpRequest.from_dict(older).method == "POST"
    with pytest.raises(ValueError):
        HttpRequest(method="DELETE")
