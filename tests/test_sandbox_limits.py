"""Resource attacks: each is stopped from outside the interpreter, and the pool recovers.

The session's short pool (tests/conftest.py), with a one-second limit and half a second of
grace before the hard kill, keeps these quick. Every test checks how the attack was stopped
and that the next invocation on the same pool runs normally.
"""

from __future__ import annotations

import base64
import json
import textwrap
import threading
import time
import zlib

import pytest

from segfn.sandbox.compiler import Handler
from segfn.sandbox.invocation import HttpRequest, Job, Result
from segfn.sandbox.pool import BlockingPool
from tests.conftest import SHORT

TIMEOUT, GRACE = SHORT.timeout, SHORT.grace
TIMED_OUT = f"the function ran past its time limit of {TIMEOUT:g} s"


@pytest.fixture
def pool(short_pool: BlockingPool) -> BlockingPool:
    """The session's pool with a TIMEOUT-second limit and GRACE seconds of grace."""
    return short_pool


def run(pool: BlockingPool, body: str, prelude: str = "", payload: object = None) -> Result:
    source = (textwrap.dedent(prelude) + "\ndef on_request(request, settings):\n"
              + textwrap.indent(textwrap.dedent(body), "    "))
    request = HttpRequest(json.dumps(payload or {}).encode(),
                          [("content-type", "application/json")])
    return pool.invoke(Job(Handler(source), request))


def assert_pool_still_works(pool: BlockingPool) -> None:
    result = run(pool, "Segment.track({'event': 'After', 'userId': '1'})")
    assert result.ok, result.error
    assert [t["event"] for t in result.tracks] == ["After"]


def assert_stopped(pool: BlockingPool, result: Result, kind: str, fragment: str) -> None:
    assert not result.ok, f"attack ran: logs={result.logs}"
    assert result.error.type == kind, result.error
    assert fragment in result.error.message, result.error.message
    assert_pool_still_works(pool)


def timed(pool: BlockingPool, body: str, prelude: str = "") -> tuple[Result, float]:
    started = time.monotonic()
    result = run(pool, body, prelude)
    return result, time.monotonic() - started


def test_infinite_loop_times_out(pool):
    result, elapsed = timed(pool, "while True:\n    pass")
    assert elapsed < TIMEOUT + GRACE + 1
    assert_stopped(pool, result, "Timeout", TIMED_OUT)


def test_loop_swallowing_the_interruption_is_killed(pool):
    result, elapsed = timed(pool, """
        while True:
            try:
                while True:
                    pass
            except BaseException:
                pass
    """)
    assert TIMEOUT <= elapsed < TIMEOUT + GRACE + 2
    assert_stopped(pool, result, "Timeout", TIMED_OUT)


def test_huge_integer_power_in_c_is_killed(pool):
    result, elapsed = timed(pool, "x = 10 ** 10 ** 10")
    assert elapsed < TIMEOUT + GRACE + 2
    assert_stopped(pool, result, "Timeout", TIMED_OUT)


def test_long_c_call_in_an_exposed_module_is_killed(pool):
    result, _ = timed(pool, "import hashlib\nhashlib.pbkdf2_hmac('sha256', b'p', b's', 10**9)")
    assert_stopped(pool, result, "Timeout", TIMED_OUT)


def test_sleeping_past_the_limit_times_out(pool):
    result, elapsed = timed(pool, "import time\ntime.sleep(100)")
    assert elapsed < TIMEOUT + GRACE + 2
    assert_stopped(pool, result, "Timeout", TIMED_OUT)


def test_catastrophic_regex_backtracking_times_out(pool):
    result, _ = timed(pool, "import re\nre.match('(a+)+$', 'a' * 40 + 'b')")
    assert_stopped(pool, result, "Timeout", TIMED_OUT)


def test_one_huge_allocation_hits_the_memory_limit(pool):
    result = run(pool, "x = 'x' * 10**10")
    assert_stopped(pool, result, "BadRequest", "memory limit exceeded")


def test_growing_a_list_hits_the_memory_limit(pool):
    result = run(pool, """
        chunks = []
        while True:
            # bytes(n) is calloc'd, so the loop reaches the cap without the time to fill it.
            chunks.append(bytes(10**8))
    """)
    assert_stopped(pool, result, "BadRequest", "memory limit exceeded")


def test_decompression_bomb_is_refused_by_the_cap(pool):
    bomb = zlib.compress(b"\0" * (64 * 1024 * 1024), 9)
    assert len(bomb) < 100_000
    result = run(pool, """
        import base64, zlib
        zlib.decompress(base64.b64decode(request.json()["bomb"]))
    """, payload={"bomb": base64.b64encode(bomb).decode()})
    assert_stopped(pool, result, "BadRequest", "decompressed data exceeds 16777216 bytes")


def test_decompression_under_the_cap_works(pool):
    result = run(pool, """
        import zlib
        console.log(str(len(zlib.decompress(zlib.compress(b"a" * 1000000)))))
    """)
    assert result.ok, result.error
    assert result.logs == ["1000000"]


def test_deep_recursion_is_a_bad_request(pool):
    result = run(pool, "dive(0)", "def dive(n):\n    return dive(n + 1)")
    assert_stopped(pool, result, "BadRequest", "RecursionError")


@pytest.mark.parametrize("module", ["threading", "_thread", "os", "multiprocessing",
                                    "subprocess", "concurrent.futures"])
def test_threads_and_processes_cannot_be_started(pool, module):
    result = run(pool, "pass", f"import {module}")
    assert_stopped(pool, result, "InvalidSettings", "")
    assert module in result.error.message


def test_concurrent_invocation_completes_while_another_loops(pool):
    looping: dict[str, Result] = {}
    thread = threading.Thread(target=lambda: looping.setdefault(
        "result", run(pool, "while True:\n    pass")))
    thread.start()
    time.sleep(0.2)
    result, elapsed = timed(pool, "Segment.track({'event': 'Meanwhile', 'userId': '1'})")
    thread.join()
    assert result.ok, result.error
    assert elapsed < TIMEOUT / 2
    assert looping["result"].error.type == "Timeout"
    assert_pool_still_works(pool)


def test_output_flood_is_capped(pool):
    result = run(pool, "for i in range(100000):\n    console.log('x' * 100)")
    assert result.ok, result.error
    assert sum(len(line) for line in result.logs) <= 64 * 1024 + 100
    assert result.logs[-1].endswith("[logs truncated at 64 KiB]")
