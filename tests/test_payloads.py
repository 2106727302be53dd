"""Payload files (SPEC 12): reading them, refusing malformed ones, and every shared file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from segfn.payloads import NotAPayload, Payload, PayloadError, load_payload, parse_payload
from segfn.sandbox.compiler import Handler
from segfn.sandbox.invocation import Job
from segfn.sandbox.pool import BlockingPool
from segfn.sandbox.webhook import build_request

PAYLOADS = Path("/work/shared/payloads")
ALL_PAYLOADS = sorted(PAYLOADS.glob("**/*.json"))


def parse(payload: dict[str, Any], **document: Any) -> Payload:
    return parse_payload({"payload": payload, **document})


# Bodies


def test_object_body_is_json_dumps() -> None:
    body = {"b": 1, "a": [True, None, 2.5], "é": "ü"}
    assert parse({"body": body}).body == json.dumps(body).encode()


def test_list_body_is_json_dumps() -> None:
    assert parse({"body": [{"id": 1}]}).body == b'[{"id": 1}]'


def test_string_body_is_its_utf8_bytes() -> None:
    assert parse({"body": "a=K\u00f6ln&b=2"}).body == "a=Köln&b=2".encode()


@pytest.mark.parametrize("payload", [{"body": None}, {}])
def test_null_or_absent_body_is_empty(payload: dict[str, Any]) -> None:
    assert parse(payload).body == b""


# Headers, query, url, settings


def test_headers_as_lists_or_strings() -> None:
    payload = parse({"headers": {"Content-Type": ["application/json"], "X-Event": "push",
                                 "Accept-Encoding": ["gzip, deflate", "identity"],
                                 "X-Count": 3}})
    assert payload.headers == {"Content-Type": ["application/json"], "X-Event": ["push"],
                               "Accept-Encoding": ["gzip, deflate", "identity"],
                               "X-Count": ["3"]}
    assert payload.header_pairs() == [
        ("Content-Type", "application/json"), ("X-Event", "push"),
        ("Accept-Encoding", "gzip, deflate"), ("Accept-Encoding", "identity"),
        ("X-Count", "3")]


@pytest.mark.parametrize("key", ["queryParameters", "queryParams"])
def test_query_under_either_name(key: str) -> None:
    assert parse({"body": {}, key: {"a": "1"}}).query == {"a": "1"}


def test_no_query_is_none() -> None:
    assert parse({"body": {}}).query is None


def test_url_and_settings() -> None:
    payload = parse({"url": "https://example.test/in?x=1"}, settings={"apiKey": "k"})
    assert payload.url == "https://example.test/in?x=1"
    assert payload.settings == {"apiKey": "k"}


def test_other_keys_are_ignored_when_not_strict() -> None:
    # The service's test request: a payload document with "version" beside it.
    payload = parse_payload({"payload": {"body": {}, "method": "PUT", "extra": [1]},
                             "version": 2}, strict=False)
    assert payload.settings == {} and payload.headers == {}


@pytest.mark.parametrize(("document", "named"), [
    ({"payload": {"body": {}}, "note": "recorded in 2020"}, "'note' at the top"),
    ({"payload": {"body": {}, "method": "PUT"}}, "'method' in \"payload\""),
])
def test_other_keys_are_refused_by_default(document: dict[str, Any], named: str) -> None:
    with pytest.raises(NotAPayload, match=f"here: not a payload file: {named}; expected"):
        parse_payload(document, "here")


# Malformed documents


@pytest.mark.parametrize(("document", "complaint"), [
    ([], "\"payload\" object"),
    ({}, "\"payload\" object"),
    ({"payload": "body"}, "\"payload\" object"),
    ({"payload": {"headers": ["Content-Type"]}}, "headers"),
    ({"payload": {"headers": {"X-A": {"nested": 1}}}}, "X-A"),
    ({"payload": {"headers": {"X-A": None}}}, "X-A"),
    ({"payload": {"headers": {"X-A": [True]}}}, "X-A"),
    ({"payload": {}, "settings": []}, "settings"),
    ({"payload": {}, "settings": "apiKey=1"}, "settings"),
    ({"payload": {"queryParameters": "a=1"}}, "query"),
    ({"payload": {"queryParams": ["a"]}}, "query"),
    ({"payload": {"url": 42}}, "url"),
])
def test_malformed_documents_are_refused(document: Any, complaint: str) -> None:
    with pytest.raises(PayloadError, match="^here: ") as caught:
        parse_payload(document, "here")
    assert complaint in str(caught.value)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(PayloadError, match="absent.json"):
        load_payload(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("{\"payload\": ")
    with pytest.raises(PayloadError, match="not valid JSON"):
        load_payload(tmp_path / "bad.json")
    (tmp_path / "latin1.json").write_bytes(b'{"payload": {"body": "K\xf6ln"}}')
    with pytest.raises(PayloadError, match="not valid JSON"):
        load_payload(tmp_path / "latin1.json")


# Every shared payload file, through the loader, the webhook's checks and the sandbox

SIZER = Handler('''
def on_request(request, settings):
    Segment.track({"anonymousId": "payloads", "event": "Received",
                   "properties": {"size": len(request.raw_body),
                                  "type": request.headers.get("content-type")}})
''', "sizer.py")


@pytest.mark.skipif(not ALL_PAYLOADS, reason="no shared payload files here")
@pytest.mark.parametrize("path", ALL_PAYLOADS,
                         ids=[str(p.relative_to(PAYLOADS)) for p in ALL_PAYLOADS])
def test_every_shared_payload_file_reaches_the_handler(path: Path, pool: BlockingPool) -> None:
    payload = load_payload(path)
    for values in payload.headers.values():
        assert all(isinstance(v, str) and not v.startswith("[") for v in values)
    # Built as `segfn invoke --payload` builds it.
    request = build_request(payload.body, headers=payload.header_pairs(), query=payload.query,
                            url=payload.url)
    result = pool.invoke(Job(SIZER, request, payload.settings))
    assert result.ok, result.error
    [message] = result.messages
    assert message["properties"]["size"] == len(payload.body)
    assert message["properties"]["type"].startswith(("application/json",
                                                     "application/x-www-form-urlencoded"))
