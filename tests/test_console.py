"""``console`` and ``print``: one log entry per call, levels, the 64 KiB cap."""

from __future__ import annotations

import textwrap

from segfn.sandbox.compiler import Handler
from segfn.sandbox.invocation import HttpRequest, Job, Result
from segfn.sandbox.pool import BlockingPool
from segfn.sandbox.scope import LOG_TRUNCATED, MAX_LOG_BYTES, Scope


def run(pool: BlockingPool, source: str) -> Result:
    return pool.invoke(Job(Handler(textwrap.dedent(source), "handler.py"), HttpRequest(b"{}")))


def test_each_call_is_one_entry_and_levels_are_prefixed(pool: BlockingPool) -> None:
    result = run(pool, """
        def on_request(request, settings):
            console.log("log", 1, None)
            console.info("info")
            console.warn("careful", {"a": 1})
            console.error("broken")
            print("printed", "twice", sep="-")
            print("two\\nlines")
    """)
    assert result.logs == ["log 1 None", "info", "WARN: careful {'a': 1}", "ERROR: broken",
                           "printed-twice", "two\nlines"]


def test_logs_are_kept_when_the_handler_fails(pool: BlockingPool) -> None:
    result = run(pool, """
        def on_request(request, settings):
            console.error("giving up")
            raise ValidationError("bad delivery")
    """)
    assert result.error is not None and result.error.type == "MessageRejected"
    assert result.logs == ["ERROR: giving up"]


def test_logs_are_capped_at_64_kib_with_a_marker(pool: BlockingPool) -> None:
    result = run(pool, """
        def on_request(request, settings):
            for n in range(200):
                console.log(str(n % 10) * 1000)
            console.log("never kept")
    """)
    assert result.ok
    kept = sum(len(line.encode()) for line in result.logs)
    assert MAX_LOG_BYTES < kept <= MAX_LOG_BYTES + len(LOG_TRUNCATED)
    assert result.logs[-1].endswith(LOG_TRUNCATED)
    assert sum(LOG_TRUNCATED in line for line in result.logs) == 1
    assert "never kept" not in result.logs
    assert result.logs[0] == "0" * 1000


def test_the_line_after_logs_fill_up_exactly_is_the_marker() -> None:
    scope = Scope("invocation", deadline=0.0)
    for _ in range(64):
        scope.log("x" * 1024)
    scope.log("one more")
    scope.log("and another")
    assert len(scope.logs) == 65
    assert scope.logs[-1] == LOG_TRUNCATED.strip()


def test_a_cut_never_splits_a_character() -> None:
    scope = Scope("invocation", deadline=0.0)
    scope.log("a" * (MAX_LOG_BYTES - 1))
    scope.log("é and more")  # two bytes, one byte of room
    assert scope.logs[-1] == LOG_TRUNCATED.strip()
