"""``Segment`` calls through the pool: message ids, refused calls, the two call styles."""

from __future__ import annotations

import textwrap

import pytest

from segfn.sandbox.compiler import Handler
from segfn.sandbox.invocation import HttpRequest, Job, Result
from segfn.sandbox.pool import BlockingPool


def run(pool: BlockingPool, source: str, invocation_id: str = "inv-1") -> Result:
    result = pool.invoke(Job(Handler(textwrap.dedent(source), "handler.py"), HttpRequest(b"{}"),
                             invocation_id=invocation_id))
    assert result.ok, result.error
    return result


THREE_CALLS = """
    def on_request(request, settings):
        Segment.identify({"userId": "u1"})
        Segment.track({"userId": "u1", "event": "A"})
        Segment.track({"userId": "u1", "event": "B"})
"""


def ids(result: Result) -> list[str]:
    return [m["messageId"] for m in result.messages]


def test_message_ids_are_deterministic_for_an_invocation(pool: BlockingPool) -> None:
    first, again = run(pool, THREE_CALLS), run(pool, THREE_CALLS)
    other = run(pool, THREE_CALLS, invocation_id="inv-2")
    assert ids(first) == ids(again)  # a retried invocation emits the same ids
    assert len(set(ids(first))) == 3
    assert not set(ids(first)) & set(ids(other))
    assert all(len(i) <= 100 for i in ids(first))


def test_a_refused_call_emits_nothing_and_takes_no_sequence_number(pool: BlockingPool) -> None:
    with_refusals = run(pool, """
        def on_request(request, settings):
            Segment.identify({"userId": "u1"})
            for bad in ({"userID": "u1", "event": "A"}, {"userId": True, "event": "A"},
                        {"event": "no user"}):
                try:
                    Segment.track(bad)
                except ValidationError as exc:
                    console.log("refused")
            Segment.track({"userId": "u1", "event": "A"})
            Segment.track({"userId": "u1", "event": "B"})
    """)
    assert with_refusals.logs == ["refused"] * 3
    assert ids(with_refusals) == ids(run(pool, THREE_CALLS))
    assert [m.get("event") for m in with_refusals.messages] == [None, "A", "B"]


def test_a_given_message_id_is_kept(pool: BlockingPool) -> None:
    result = run(pool, """
        def on_request(request, settings):
            Segment.track({"userId": "u1", "event": "A", "messageId": "mine"})
    """)
    assert ids(result) == ["mine"]


def test_camel_case_dict_and_snake_case_keywords_make_the_same_message(
        pool: BlockingPool) -> None:
    fields = """
        "timestamp": "2024-01-02T03:04:05.000Z", "properties": {"plan": "pro"},
        "context": {"ip": "1.2.3.4"}"""
    as_dict = run(pool, """
        def on_request(request, settings):
            Segment.track({"userId": "u1", "anonymousId": "a1", "event": "A", FIELDS})
    """.replace("FIELDS", fields))
    as_keywords = run(pool, """
        def on_request(request, settings):
            Segment.track(user_id="u1", anonymous_id="a1", event="A", **{FIELDS})
    """.replace("FIELDS", fields))
    assert as_dict.messages == as_keywords.messages
    (message,) = as_dict.messages
    assert message["anonymousId"] == "a1" and message["context"]["ip"] == "1.2.3.4"
    assert message["context"]["library"]["name"] == "segfn"


@pytest.mark.parametrize(("call", "expected"), [
    ('Segment.track({"userId": "u1"}, event="A")', "not both"),
    ('Segment.track(userId="u1", event="A")', "user_id"),
    ('Segment.track({"user_id": "u1", "event": "A"})', "userId"),
])
def test_mixing_the_styles_is_refused_with_a_hint(pool: BlockingPool, call: str,
                                                  expected: str) -> None:
    result = pool.invoke(Job(Handler(f"def on_request(request, settings):\n    {call}\n",
                                     "handler.py"), HttpRequest(b"{}")))
    assert result.error is not None and result.error.type == "MessageRejected"
    assert expected in result.error.message
    assert result.messages == []
