"""The parent treats every frame a worker sends as hostile: what an invocation may emit is
capped, error descriptions cannot run handler code, text is valid UTF-8, and a frame of the
wrong shape kills its worker.

The honest-worker cases run real handlers. The hostile cases feed bytes into the parent's
end of a real worker's pipe, as a worker whose sandbox was broken could write them.
"""

from __future__ import annotations

import asyncio
import json
import struct
import textwrap
import uuid
from pathlib import Path
from typing import Any

import attrs
import pytest

from runner.errorlog import read_errors
from runner.runtime import Runtime
from runner.source import Source
from segfn.respond import MAX_REPLY_BYTES
from segfn.sandbox import protocol
from segfn.sandbox.compiler import Handler
from segfn.sandbox.egress import Egress, EgressPolicy
from segfn.sandbox.fleet import Fleet
from segfn.sandbox.invocation import (
    MAX_ERROR_CHARS,
    HttpRequest,
    Job,
    Result,
    new_invocation_id,
)
from segfn.sandbox.pool import BlockingPool, Limits, WorkerPool
from tests.stored import look

LIMITS = Limits(timeout=3.0, grace=0.5)


def job(source: str) -> Job:
    return Job(Handler(textwrap.dedent(source), "handler.py"),
               HttpRequest(b"{}", [("Content-Type", "application/json")]))


# What an honest worker sends for a handler that floods or lies


def test_output_over_the_invocation_cap_is_refused_and_nothing_is_emitted(
        pool: BlockingPool) -> None:
    # 100 messages of 20 KB: each under the 32 KiB message limit, 2 MB together.
    result = pool.invoke(job("""
        def on_request(request, settings):
            for n in range(100):
                Segment.track({"userId": "1", "event": "Big", "properties": {"b": "x" * 20000}})
    """))
    assert result.error is not None and result.error.type == "BadRequest"
    assert "output is too large" in result.error.message
    assert str(protocol.MAX_OUTPUT_BYTES) in result.error.message
    assert result.messages == [] and result.objects == []


def test_output_under_the_cap_is_kept(pool: BlockingPool) -> None:
    result = pool.invoke(job("""
        def on_request(request, settings):
            for n in range(20):
                Segment.track({"userId": "1", "event": "Big", "properties": {"b": "x" * 20000}})
    """))
    assert result.ok, result.error
    assert len(result.tracks) == 20


def test_a_huge_error_message_is_cut(pool: BlockingPool) -> None:
    result = pool.invoke(job("""
        def on_request(request, settings):
            raise ValueError("x" * 3000000)
    """))
    assert result.error is not None and result.error.type == "BadRequest"
    assert result.error.message.startswith("ValueError: xxx")
    assert len(result.error.message) <= MAX_ERROR_CHARS


def test_an_exception_whose_text_recurses_is_described_at_once(pool: BlockingPool) -> None:
    # str() of this exception recurses through 100000 nested lists.
    result = pool.invoke(job("""
        def on_request(request, settings):
            nested = []
            for n in range(100000):
                nested = [nested]
            raise ValueError(nested)
    """))
    assert result.error is not None
    assert result.error.type == "BadRequest", result.error
    assert (result.error.message, result.error.where) == ("ValueError: <list>", "handler.py:6")


def test_an_exception_made_of_handler_objects_is_described_without_them(
        pool: BlockingPool) -> None:
    result = pool.invoke(job("""
        class Thing:
            pass
        class Broken(Exception):
            @property
            def args(self):
                while True:
                    pass
        def on_request(request, settings):
            raise Broken("plain text", 42, Thing())
    """))
    assert result.error is not None and result.error.type == "BadRequest", result.error
    assert result.error.located == "handler.py:10: Broken: ('plain text', 42, <Thing>)"


def test_lone_surrogates_in_logs_and_errors_become_replacement_characters(
        pool: BlockingPool) -> None:
    result = pool.invoke(job("""
        def on_request(request, settings):
            console.log("bad \\ud800 line")
            raise ValueError("bad \\udfff text")
    """))
    assert result.logs == ["bad \ufffd line"]
    assert result.error is not None
    assert result.error.located == "handler.py:4: ValueError: bad \ufffd text"
    # The result can be written as UTF-8 wherever it goes.
    json.dumps(result.to_dict(), ensure_ascii=False).encode("utf-8")


# What a hostile worker could write


SLEEPER = """
    import time
    def on_request(request, settings):
        time.sleep(1)
        Segment.track({"userId": "1", "event": "Honest"})
"""


def frame(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


def inject(payload: bytes | dict[str, Any] | None, source: str = SLEEPER
           ) -> tuple[Result, bool, Result]:
    """Run ``source`` on a one-worker pool; while it runs, feed ``payload`` (a frame, or a
    message whose ``"id"`` of None becomes the running job's) into the parent's end of its
    worker's pipe. The job's result, whether the worker was replaced, and the next job's."""

    async def scenario() -> tuple[Result, bool, Result]:
        async with WorkerPool(size=1, limits=LIMITS) as workers:
            call = asyncio.ensure_future(workers.invoke(job(source)))
            (worker,) = workers._workers
            while not worker.calls:
                await asyncio.sleep(0.01)
            (number,) = worker.calls
            if isinstance(payload, dict):
                message = {k: (number if k == "id" and v is None else v)
                           for k, v in payload.items()}
                data = frame(json.dumps(message).encode())
            else:
                data = payload or b""
            worker.process.stdout.feed_data(data)
            result = await asyncio.wait_for(call, 10)
            # A killed worker has left the pool by the time its jobs are answered.
            replaced = worker not in workers._workers
            after = await asyncio.wait_for(workers.invoke(job("""
                def on_request(request, settings):
                    console.log("after")
            """)), 10)
            return result, replaced, after

    return asyncio.run(scenario())


def assert_killed(outcome: tuple[Result, bool, Result]) -> None:
    result, replaced, after = outcome
    assert replaced, "the worker that sent the frame was kept"
    assert result.error is not None, "a hostile frame was taken as the job's result"
    assert result.error.type == "BadRequest"
    assert result.error.message.startswith("worker crashed: protocol error")
    assert after.ok and after.logs == ["after"]


GOOD_RESULT = {"ok": True, "messages": [], "objects": [], "logs": [], "error": None,
               "duration_ms": 1.0, "reply": None}
JSON_REPLY = {"content_type": "application/json", "body": '{"challenge":"c"}'}
# Handshake answers no honest worker sends: each must kill the worker, never be answered.
FORGED_REPLIES = {
    "reply over 4 KiB": {"reply": {"content_type": "text/plain; charset=utf-8",
                                   "body": "x" * (MAX_REPLY_BYTES + 1)}},
    "reply over 4 KiB in UTF-8 bytes": {"reply": {"content_type": "text/plain; charset=utf-8",
                                                  "body": "é" * (MAX_REPLY_BYTES // 2 + 1)}},
    "reply of another content type": {"reply": {"content_type": "text/html",
                                                "body": "<script>alert(1)</script>"}},
    "reply body not text": {"reply": {"content_type": "application/json", "body": [1]}},
    "reply JSON that is not JSON": {"reply": {"content_type": "application/json",
                                              "body": "{not json"}},
    "reply JSON nested too deeply": {"reply": {"content_type": "application/json",
                                               "body": "[" * 4000}},
    "reply not an object": {"reply": "200 OK"},
    "reply with extra headers": {"reply": {**JSON_REPLY, "headers": [["Set-Cookie", "a=b"]]}},
    "reply alongside messages": {"reply": JSON_REPLY, "messages": [{"type": "track"}]},
    "reply alongside a failure": {"reply": JSON_REPLY, "ok": False,
                                  "error": {"type": "BadRequest", "message": "m"}},
}


@pytest.mark.parametrize("message", [
    pytest.param({"op": "shout", "id": None}, id="unknown op"),
    pytest.param({"op": "result", "id": 999999, "result": GOOD_RESULT, "retire": False},
                 id="result for a job it does not have"),
    pytest.param({"op": "fetch", "id": 999999, "requests": [], "budget": 1.0},
                 id="fetch for a job it does not have"),
    pytest.param({"op": "result", "id": True, "result": GOOD_RESULT, "retire": False},
                 id="id of the wrong type"),
    pytest.param({"op": "result", "id": None, "result": GOOD_RESULT, "retire": "yes"},
                 id="retire of the wrong type"),
    pytest.param({"op": "result", "id": None, "result": {**GOOD_RESULT, "messages": "abc"}},
                 id="messages not a list"),
    pytest.param({"op": "result", "id": None, "retire": False,
                  "result": {**GOOD_RESULT, "messages": [{"event": "no type"}]}},
                 id="message without a type"),
    pytest.param({"op": "result", "id": None, "retire": False,
                  "result": {**GOOD_RESULT, "logs": [1, 2]}}, id="logs not text"),
    pytest.param({"op": "result", "id": None, "retire": False,
                  "result": {**GOOD_RESULT, "objects": [{"collection": "c"}]}},
                 id="object without id and properties"),
    pytest.param({"op": "result", "id": None, "retire": False,
                  "result": {**GOOD_RESULT, "error": {"type": "Whatever", "message": "m"}}},
                 id="unknown error type"),
    pytest.param({"op": "result", "id": None, "retire": False,
                  "result": {**GOOD_RESULT, "messages": [{"type": "track"}],
                             "error": {"type": "BadRequest", "message": "m"}}},
                 id="a failure that emitted"),
    pytest.param({"op": "result", "id": None, "retire": False,
                  "result": {**GOOD_RESULT, "duration_ms": "soon"}}, id="duration not a number"),
    pytest.param({"op": "fetch", "id": None, "requests": [{"url": 1}], "budget": 1.0},
                 id="fetch request of the wrong shape"),
    pytest.param({"op": "fetch", "id": None, "budget": 1.0, "requests": [
        {"url": "http://a.test/", "method": "GET", "headers": [], "body": "not base64!",
         "timeout": None}]}, id="fetch body not base64"),
    pytest.param({"op": "fetch", "id": None, "budget": 1.0, "requests": [
        {"url": "http://a.test/", "method": "GET", "headers": [["x-only"]], "body": "",
         "timeout": None}]}, id="fetch header not a pair"),
    pytest.param({"op": "fetch", "id": None, "budget": 1.0, "requests": [
        {"url": "http://a.test/", "method": "GET", "headers": [], "body": "",
         "timeout": True}]}, id="fetch timeout not seconds"),
    pytest.param({"op": "ready", "pid": 1}, id="ready twice"),
    *[pytest.param({"op": "result", "id": None, "retire": False,
                    "result": {**GOOD_RESULT, **fields}}, id=name)
      for name, fields in FORGED_REPLIES.items()],
])
def test_a_frame_of_the_wrong_shape_kills_its_worker(message: dict[str, Any]) -> None:
    assert_killed(inject(message))


def test_a_frame_that_is_not_json_kills_its_worker() -> None:
    assert_killed(inject(frame(b"\xff\xfe not json")))


def test_a_frame_with_non_finite_numbers_kills_its_worker() -> None:
    # json.dumps writes NaN, which JSON does not have and Python's json.loads accepts.
    assert_killed(inject({"op": "result", "id": None, "retire": False,
                          "result": {**GOOD_RESULT, "duration_ms": float("nan")}}))


def test_a_frame_over_the_worker_frame_limit_kills_its_worker_before_it_is_read() -> None:
    # Only the header: the parent must not wait for (or allocate) the body it announces.
    assert_killed(inject(struct.pack(">I", protocol.MAX_WORKER_FRAME + 1)))


def test_a_frame_with_lone_surrogate_escapes_is_cleaned_at_the_decoder() -> None:
    result, replaced, _ = inject({
        "op": "result", "id": None, "retire": False,
        "result": {**GOOD_RESULT, "ok": False, "logs": ["a \ud800 b", "\udc00"],
                   "error": {"type": "BadRequest", "message": "x \udbff"}}})
    assert not replaced
    assert result.logs == ["a \ufffd b", "\ufffd"]
    assert result.error is not None and result.error.message == "x \ufffd"


def test_a_frame_with_an_overlong_error_message_is_cut() -> None:
    result, _, _ = inject({
        "op": "result", "id": None, "retire": False,
        "result": {**GOOD_RESULT, "ok": False,
                   "error": {"type": "BadRequest", "message": "y" * 500000}}})
    assert result.error is not None
    assert len(result.error.message) <= MAX_ERROR_CHARS
    assert result.error.message.startswith("yyy")


# The seam itself


def test_result_from_dict_checks_types() -> None:
    assert Result.from_dict(GOOD_RESULT).ok
    for bad in ({**GOOD_RESULT, "logs": "text"}, {**GOOD_RESULT, "messages": [1]},
                {**GOOD_RESULT, "error": {"type": "BadRequest"}},
                {**GOOD_RESULT, "error": {"type": "BadRequest", "message": 5}},
                {**GOOD_RESULT, "error": {"type": "BadRequest", "message": "m", "where": 3}},
                {**GOOD_RESULT, "duration_ms": -1}, {**GOOD_RESULT, "duration_ms": True}):
        with pytest.raises((TypeError, ValueError, KeyError)):
            Result.from_dict(bad)


def test_an_honest_reply_frame_is_answered() -> None:
    result, replaced, _ = inject({"op": "result", "id": None, "retire": False,
                                  "result": {**GOOD_RESULT, "reply": JSON_REPLY}})
    assert not replaced
    assert result.ok and result.reply is not None
    assert result.reply.json() == {"challenge": "c"}


def test_a_handler_cannot_pass_off_its_own_object_as_a_reply(pool: BlockingPool) -> None:
    # Only respond()'s own value is an answer: a look-alike is any other return value.
    result = pool.invoke(job("""
        class Reply:
            content_type = "text/html"
            body = "<script>alert(1)</script>"
        def on_request(request, settings):
            return Reply()
    """))
    assert result.ok, result.error
    assert result.reply is None


def test_an_answer_at_the_limit_is_kept_and_one_byte_more_is_refused(pool: BlockingPool) -> None:
    result = pool.invoke(job(f"""
        def on_request(request, settings):
            return respond(text="x" * {MAX_REPLY_BYTES})
    """))
    assert result.ok, result.error
    assert result.reply is not None and len(result.reply.body) == MAX_REPLY_BYTES
    over = pool.invoke(job(f"""
        def on_request(request, settings):
            return respond(json={{"a": "é" * {MAX_REPLY_BYTES // 2}}})
    """))
    assert over.error is not None and over.error.type == "BadRequest"
    assert f"at most {MAX_REPLY_BYTES} bytes" in over.error.message


def test_where_crosses_the_seam_and_stays_out_of_the_answer() -> None:
    failed = {**GOOD_RESULT, "ok": False,
              "error": {"type": "BadRequest", "message": "KeyError: 'k'", "where": "h.py:3"}}
    result = Result.from_dict(failed)
    assert result.to_dict() == failed and result.error is not None
    assert result.error.located == "h.py:3: KeyError: 'k'"
    assert result.error.answer() == {"type": "BadRequest", "message": "KeyError: 'k'"}


def test_a_jobs_settings_source_crosses_the_seam(pool: BlockingPool) -> None:
    moon = attrs.evolve(job("""
        def on_request(request, settings):
            return settings["apiKey"]
    """), settings_given_in="the moon's settings")
    assert Job.from_dict(moon.to_dict()) == moon
    result = pool.invoke(moon)
    assert result.error is not None and result.error.located == (
        "handler.py:3: setting 'apiKey' is not set; give it in the moon's settings")


def test_a_handler_with_several_problems_gives_each_reason_and_the_first_line(
        pool: BlockingPool) -> None:
    result = pool.invoke(job("""
        def on_request(request, settings):
            _a = 1
            return _b
    """))
    assert result.error is not None and result.error.where == "handler.py:3"
    underscore = "is not available to functions: it starts with \"_\", which is the sandbox's"
    assert result.error.message == (f'"_a" {underscore}; rename it; "_b" {underscore}; '
                                    "rename it")


def test_a_lone_surrogate_reaches_the_errors_log_as_valid_text(tmp_path: Path) -> None:
    # Once, the delivery failed to store and `segfn run` answered 503 with nothing logged.
    source = Source("src_1", "surrogates", Handler(textwrap.dedent("""
        def on_request(request, settings):
            console.log("log \\ud800")
            raise ValueError("error \\udfff")
    """)), {})

    async def main() -> Any:
        runtime = Runtime(tmp_path, Fleet(lambda _: WorkerPool(1, LIMITS), 1),
                          Egress(EgressPolicy()), lambda _: source)
        await runtime.start()
        try:
            return await runtime.deliver(source, HttpRequest(
                b"{}", [("Content-Type", "application/json")]))
        finally:
            await runtime.close()

    outcome = asyncio.run(main())
    assert outcome.status == 400
    (logged,) = look(tmp_path / "segfn.db", read_errors)
    assert logged["error"]["message"] == "handler.py:4: ValueError: error \ufffd"
    assert logged["logs"] == ["log \ufffd"]


# Frames read the fast way (orjson) must read exactly as the strict decoder reads them.


@pytest.mark.parametrize("text", [
    '{"n": 123456789012345678901234567890}', '{"n": -9223372036854775809}',
    '{"n": 18446744073709551615}', '{"n": -0}', '{"n": 1.5e308}', '{"n": 1e-400}',
    '{"s": "\\ud83d\\ude00 \\u0000"}', '{"a": 1, "a": 2}', '{"id": "0123456789012345678x"}',
])
def test_the_fast_decoder_reads_what_the_strict_one_reads(text: str) -> None:
    message = protocol.decode(text.encode())
    assert message == protocol.strict_loads(text)
    assert [type(v) for v in message.values()] == [
        type(v) for v in protocol.strict_loads(text).values()]


@pytest.mark.parametrize("data", [
    b'{"n": NaN}', b'{"n": -Infinity}', b'{"n": 1e400}', b'{"n": 1E400}',
    b'{"s": "\xed\xa0\x80"}', b'\xef\xbb\xbf{}', b'{"a": 1} {}', b"[" * 5000 + b"]" * 5000,
])
def test_the_fast_decoder_refuses_what_the_strict_one_refuses(data: bytes) -> None:
    with pytest.raises(protocol.ProtocolError):
        protocol.decode(data)


# Several frames in one write, as an honest worker's results may come


def result_frame(number: int, logs: list[str]) -> bytes:
    return frame(json.dumps({"op": "result", "id": number, "retire": False,
                             "result": {**GOOD_RESULT, "logs": logs}}).encode())


def feed_all(chunk: Any) -> tuple[list[Result], bool]:
    """Two sleeping jobs on a one-worker pool; ``chunk(first, second)`` (their ids) is fed
    into the parent's end of the worker's pipe in one piece. Both results, and whether the
    worker was replaced."""

    async def scenario() -> tuple[list[Result], bool]:
        async with WorkerPool(size=1, limits=LIMITS) as workers:
            calls = [asyncio.ensure_future(workers.invoke(job(SLEEPER))) for _ in range(2)]
            (worker,) = workers._workers
            async with asyncio.timeout(10):
                while len(worker.calls) < 2:
                    await asyncio.sleep(0.01)
            first, second = worker.calls
            worker.process.stdout.feed_data(chunk(first, second))
            async with asyncio.timeout(10):
                results = await asyncio.gather(*calls)
            return results, worker not in workers._workers

    return asyncio.run(scenario())


def test_results_of_several_jobs_in_one_write_are_each_answered() -> None:
    results, replaced = feed_all(lambda a, b: result_frame(b, ["second"])
                                 + result_frame(a, ["first"]))
    assert [r.logs for r in results] == [["first"], ["second"]]
    assert not replaced


def test_a_bad_frame_behind_a_good_one_in_one_write_kills_the_worker() -> None:
    # The good frame was whole and checked: it stands. What follows it kills the worker,
    # and with it the one job it still had, as any crash does.
    results, replaced = feed_all(lambda a, b: result_frame(a, ["first"])
                                 + frame(b'{"op": "result", "id": ' + str(b).encode()
                                         + b', "retire": false, "result": {"logs": 5}}'))
    assert results[0].logs == ["first"]
    assert replaced
    assert results[1].error is not None and results[1].error.type == "BadRequest"
    assert results[1].error.message.startswith("worker crashed: protocol error")



# A handler's source crosses once a worker; then its key names it


def test_a_handler_is_sent_once_then_named_by_its_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from segfn.sandbox import pool as pool_module

    sent: list[dict[str, Any]] = []
    send = pool_module._Worker.send

    def recording(self: Any, message: dict[str, Any]) -> None:
        sent.append(message)
        send(self, message)

    monkeypatch.setattr(pool_module._Worker, "send", recording)
    counting = job("""
        def on_request(request, settings):
            console.log("ran")
    """)
    other = job("""
        def on_request(request, settings):
            console.log("other")
    """)

    async def scenario() -> list[Result]:
        async with WorkerPool(size=1, limits=LIMITS) as workers:
            async with asyncio.timeout(30):
                return [await workers.invoke(j) for j in (counting, other, counting, other)]

    results = asyncio.run(scenario())
    assert [r.logs for r in results] == [["ran"], ["other"], ["ran"], ["other"]]
    invokes = [m["job"] for m in sent if m["op"] == "invoke"]
    assert ["source" in j for j in invokes] == [True, True, False, False]
    assert invokes[2]["key"] == counting.handler.key


def test_a_handler_forgotten_by_the_worker_is_sent_again() -> None:
    # One more handler than a worker keeps: the first is forgotten on both sides, and its
    # next job carries its source again (a worker out of step would exit, failing it).
    jobs = [job(f"""
        def on_request(request, settings):
            console.log("{n}")
    """) for n in range(protocol.HANDLERS_KEPT + 1)]

    async def scenario() -> tuple[list[Result], bool]:
        async with WorkerPool(size=1, limits=LIMITS) as workers:
            (worker,) = workers._workers
            async with asyncio.timeout(120):
                results = [await workers.invoke(j) for j in [*jobs, jobs[0], jobs[-1]]]
            return results, worker in workers._workers

    results, kept = asyncio.run(scenario())
    assert [r.logs for r in results] == [[str(n)] for n in range(len(jobs))] + [["0"], [
        str(len(jobs) - 1)]]
    assert kept, "the worker fell out of step with the parent"


def test_kept_handlers_forget_the_one_used_longest_ago() -> None:
    kept: protocol.Kept[int] = protocol.Kept()
    for n in range(protocol.HANDLERS_KEPT):
        kept.keep(f"k{n}", n)
    assert kept.use("k0") == 0  # now the one used last
    kept.keep("new", -1)
    assert "k1" not in kept and "k0" in kept and kept.use("new") == -1
    assert kept.use("k1") is None


# The parent reads a worker's stdout in chunks, however the frames fall in them


def test_frames_come_out_whole_however_the_bytes_are_cut() -> None:
    messages = [{"op": "result", "id": n, "text": "é" * n} for n in range(5)]
    stream = b"".join(protocol.encode(m) for m in messages)
    for size in (1, 3, 7, len(stream)):
        frames = protocol.Frames()
        got = [m for start in range(0, len(stream), size)
               for m in frames.feed(stream[start:start + size])]
        assert got == messages


def test_a_frame_over_the_limit_is_refused_at_its_header() -> None:
    # Four bytes announce it: nothing of its body is waited for, or kept.
    frames = protocol.Frames(limit=100)
    with pytest.raises(protocol.ProtocolError, match="over the limit of 100"):
        list(frames.feed(struct.pack(">I", 101)))


def test_the_frames_before_a_bad_one_are_had_first() -> None:
    frames = protocol.Frames()
    got = []
    with pytest.raises(protocol.ProtocolError):
        for message in frames.feed(protocol.encode({"op": "a"}) + frame(b"[1]")):
            got.append(message)
    assert got == [{"op": "a"}]


# Frames are written by orjson, and by json where orjson refuses


@pytest.mark.parametrize("message", [
    {"op": "result", "s": "é \u2028 \x00 \"q\"", "n": [1, -2, 2**63 - 1, 1.5, 1e-7, 0.1],
     "nested": {"b": True, "z": None}},
    {"op": "x", "s": "lone \ud800 surrogate"},
    {"op": "x", "n": 2**70},
    {"op": "x", "keys": {1: "int key"}},
])
def test_a_frame_reads_back_as_json_would_write_it(message: dict[str, Any]) -> None:
    data = protocol.encode(message)[protocol.HEADER_SIZE:]
    expected = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
    assert protocol.decode(data) == protocol.decode(
        expected.encode("utf-8", "surrogatepass").replace(b"\xed\xa0\x80", "\ufffd".encode()))


# Invocation ids: random version-4 UUIDs, drawn from the system in chunks


def test_invocation_ids_are_distinct_version_4_uuids() -> None:
    drawn = [new_invocation_id() for _ in range(5000)]  # past one 4 KiB chunk of randomness
    assert len(set(drawn)) == len(drawn)
    for text in drawn:
        parsed = uuid.UUID(hex=text)
        assert (parsed.hex, parsed.version, parsed.variant) == (text, 4, uuid.RFC_4122)
