"""``cache`` in real workers, answered by the parent from a diskcache per source."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import diskcache
import pytest

from segfn.cache import MAX_KEY_LENGTH, MAX_VALUE_BYTES, CacheAnswer, CacheAnswerer, CacheRequest
from segfn.sandbox.cachestore import CacheStores
from segfn.sandbox.compiler import Handler
from segfn.sandbox.confine.plan import Plan
from segfn.sandbox.invocation import HttpRequest, Job, Result
from segfn.sandbox.pool import BlockingPool, Limits
from segfn.testing import LoadedHandler

# Logs "computed" whenever fn runs, then the value it got.
LOAD = """
import datetime
def on_request(request, settings):
    def compute():
        console.log("computed")
        return {"n": [1]}
    console.log(cache.load("key", TTL, compute))
"""


@pytest.fixture
def stores(pool: BlockingPool, tmp_path: Path) -> Iterator[CacheStores]:
    """The parent's stores, under ``tmp_path``: the one named "source" is the default."""
    opened = CacheStores(tmp_path)
    yield opened
    pool.run(opened.close())


@pytest.fixture
def source(stores: CacheStores) -> CacheAnswerer:
    return stores.answerer("source")


def run(pool: BlockingPool, source: str, cache: CacheAnswerer | None,
        **replace: str) -> Result:
    code = textwrap.dedent(source)
    for name, value in replace.items():
        code = code.replace(name, value)
    return pool.invoke(Job(Handler(code, "handler.py"), HttpRequest(b"{}")), cache=cache)


def computed(result: Result) -> bool:
    assert result.ok, result.error
    return "computed" in result.logs


def expiry(cache_dir: Path, key: str = "key") -> float | None:
    """When diskcache will drop ``key`` (None: never), read from the store itself."""
    with diskcache.Cache(str(cache_dir)) as store:
        value, expire_time = store.get(key, expire_time=True)
    assert value is not None, f"{key} is not stored"
    return expire_time


def test_a_value_is_kept_for_ttl_milliseconds(pool: BlockingPool, source: CacheAnswerer) -> None:
    first = run(pool, LOAD, source, TTL="300")
    second = run(pool, LOAD, source, TTL="300")
    assert computed(first) and not computed(second)
    assert second.logs == ["{'n': [1]}"]
    time.sleep(0.35)
    assert computed(run(pool, LOAD, source, TTL="300"))


def test_ttl_zero_is_never_kept(pool: BlockingPool, source: CacheAnswerer,
                                tmp_path: Path) -> None:
    assert computed(run(pool, LOAD, source, TTL="0"))
    assert computed(run(pool, LOAD, source, TTL="0"))
    with diskcache.Cache(str(tmp_path / "source")) as store:
        assert "key" not in store


@pytest.mark.parametrize("ttl", ["None", "-1"])
def test_none_and_minus_one_never_expire(pool: BlockingPool, source: CacheAnswerer,
                                         tmp_path: Path, ttl: str) -> None:
    assert computed(run(pool, LOAD, source, TTL=ttl))
    assert not computed(run(pool, LOAD, source, TTL=ttl))
    assert expiry(tmp_path / "source") is None


def test_a_timedelta_ttl_is_accepted(pool: BlockingPool, source: CacheAnswerer,
                                     tmp_path: Path) -> None:
    before = time.time()
    assert computed(run(pool, LOAD, source, TTL="datetime.timedelta(minutes=2)"))
    assert not computed(run(pool, LOAD, source, TTL="datetime.timedelta(minutes=2)"))
    expire_time = expiry(tmp_path / "source")
    assert expire_time is not None and before + 119 < expire_time < time.time() + 121


@pytest.mark.parametrize("ttl", ["-2", "-0.5", "datetime.timedelta(seconds=-1)",
                                 "float('nan')"])
def test_other_negative_ttls_are_a_value_error(pool: BlockingPool, source: CacheAnswerer,
                                               ttl: str) -> None:
    result = run(pool, LOAD, source, TTL=ttl)
    assert result.error is not None and result.error.type == "BadRequest"
    assert result.error.message.startswith("ValueError: cache ttl")
    assert "computed" not in result.logs


def test_a_failing_fn_stores_nothing_and_its_error_propagates(pool: BlockingPool,
                                                              source: CacheAnswerer) -> None:
    result = run(pool, """
        def on_request(request, settings):
            def fail():
                raise KeyError("upstream")
            try:
                cache.load("key", -1, fail)
            except KeyError:
                console.log("propagated")
            console.log(cache.load("key", -1, lambda: "fresh"))
    """, source)
    assert result.logs == ["propagated", "fresh"]


def test_a_value_that_is_not_json_is_an_error_and_not_stored(pool: BlockingPool,
                                                             source: CacheAnswerer,
                                                             tmp_path: Path) -> None:
    result = run(pool, """
        def on_request(request, settings):
            cache.load("key", -1, lambda: {1, 2})
    """, source)
    assert result.error is not None and result.error.type == "BadRequest"
    assert "TypeError" in result.error.message and "not JSON serializable" in result.error.message
    with diskcache.Cache(str(tmp_path / "source")) as store:
        assert "key" not in store


def test_delete_forgets_a_value(pool: BlockingPool, source: CacheAnswerer) -> None:
    assert computed(run(pool, LOAD, source, TTL="-1"))
    deleted = run(pool, """
        def on_request(request, settings):
            cache.delete("key")
            cache.delete("never stored")
    """, source)
    assert deleted.ok
    assert computed(run(pool, LOAD, source, TTL="-1"))


def test_loaded_values_are_fresh_copies(pool: BlockingPool, source: CacheAnswerer) -> None:
    result = run(pool, """
        def on_request(request, settings):
            original = {"n": [1]}
            first = cache.load("key", -1, lambda: original)
            original["n"].append("changed the original")
            first["n"].append("changed the first copy")
            console.log(cache.load("key", -1, lambda: None), first is original)
    """, source)
    assert result.logs == ["{'n': [1]} False"]


def test_each_source_has_its_own_cache(pool: BlockingPool, stores: CacheStores) -> None:
    one, two = stores.answerer("function", "one"), stores.answerer("function", "two")
    assert computed(run(pool, LOAD, one, TTL="-1"))
    assert computed(run(pool, LOAD, two, TTL="-1"))
    assert not computed(run(pool, LOAD, one, TTL="-1"))


def test_without_a_store_fn_runs_every_time(pool: BlockingPool) -> None:
    assert computed(run(pool, LOAD, None, TTL="-1"))
    assert computed(run(pool, LOAD, None, TTL="-1"))


def test_both_workers_share_a_sources_cache(pool: BlockingPool, source: CacheAnswerer) -> None:
    # Keeps its worker busy after storing, so the pool must run the reader on the other one.
    holder = """
        import time
        def on_request(request, settings):
            cache.load("key", -1, lambda: "from the first worker")
            until = time.monotonic() + 0.5
            while time.monotonic() < until:
                pass
    """
    reader = """
        def on_request(request, settings):
            console.log(cache.load("key", -1, lambda: "computed again"))
    """
    with concurrent.futures.ThreadPoolExecutor(1) as threads:
        holding = threads.submit(run, pool, holder, source)
        time.sleep(0.2)
        read = run(pool, reader, source)
        assert not holding.done(), "the reader ran after the holder, not beside it"
        assert holding.result().ok
    assert read.logs == ["from the first worker"]


# The worker keeps nothing: the parent answers


def open_files(pids: list[int]) -> set[str]:
    """What the processes' file descriptors point at (paths, pipes, sockets)."""
    found = set()
    for pid in pids:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):  # closed while listed
                found.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
    return found


def test_a_worker_opens_no_file_for_the_cache(load_handler: Callable[..., LoadedHandler],
                                              segfn_pool: BlockingPool,
                                              tmp_path: Path) -> None:
    loaded = load_handler(source=textwrap.dedent(LOAD).replace("TTL", "-1"))
    before = open_files(segfn_pool.pool.pids)
    results = [loaded.post(json={}) for _ in range(3)]
    after = open_files(segfn_pool.pool.pids)
    assert [computed(result) for result in results] == [True, False, False]
    assert after == before
    assert not any(path.startswith(str(tmp_path)) for path in after)


def test_a_job_names_no_store() -> None:
    job = Job(Handler(LOAD, "handler.py"), HttpRequest(b"{}"))
    assert set(job.to_dict()) == {"source", "filename", "key", "request", "settings",
                                  "invocation_id", "alphabetize", "settings_given_in"}


def test_the_parent_answers_every_cache_call(pool: BlockingPool) -> None:
    asked: list[CacheRequest] = []

    async def answer(request: CacheRequest) -> CacheAnswer:
        asked.append(request)
        return CacheAnswer('{"from": "the parent"}' if request.op == "get" else None)

    result = run(pool, """
        def on_request(request, settings):
            console.log(cache.load("key", 1500, lambda: "computed"))
            cache.delete("key")
            console.log(cache.load("fresh", -1, lambda: {"a": [1]}))
    """, answer)
    assert result.logs == ["{'from': 'the parent'}", "{'from': 'the parent'}"]
    assert asked == [CacheRequest("get", "key"), CacheRequest("delete", "key"),
                     CacheRequest("get", "fresh")]


def test_a_miss_is_set_with_its_expiry_in_seconds(pool: BlockingPool) -> None:
    asked: list[CacheRequest] = []

    async def answer(request: CacheRequest) -> CacheAnswer:
        asked.append(request)
        return CacheAnswer()

    assert computed(run(pool, LOAD, answer, TTL="1500"))
    assert asked == [CacheRequest("get", "key"), CacheRequest("set", "key", '{"n":[1]}', 1.5)]


def test_a_failing_store_is_the_handlers_error(pool: BlockingPool) -> None:
    async def answer(request: CacheRequest) -> CacheAnswer:
        return CacheAnswer(error="OSError: disk full")

    result = run(pool, LOAD, answer, TTL="-1")
    assert result.error is not None and result.error.type == "BadRequest"
    assert "cache get failed: OSError: disk full" in result.error.message


@pytest.mark.parametrize(("call", "message"), [
    (f"cache.load('k' * {MAX_KEY_LENGTH + 1}, -1, lambda: 1)",
     f"cache key is over {MAX_KEY_LENGTH} characters"),
    (f"cache.delete('k' * {MAX_KEY_LENGTH + 1})",
     f"cache key is over {MAX_KEY_LENGTH} characters"),
    (f"cache.load('k', -1, lambda: 'v' * {MAX_VALUE_BYTES})",
     f"cache value is over {MAX_VALUE_BYTES} bytes of JSON"),
    ("cache.load(7, -1, lambda: 1)", "cache key must be a string"),
])
def test_a_request_over_the_bounds_is_refused_in_the_handler(pool: BlockingPool,
                                                             source: CacheAnswerer, call: str,
                                                             message: str) -> None:
    result = run(pool, f"""
        def on_request(request, settings):
            {call}
    """, source)
    assert result.error is not None and result.error.type == "BadRequest"
    assert message in result.error.message


def test_a_key_and_value_at_the_bounds_are_kept(pool: BlockingPool,
                                                source: CacheAnswerer) -> None:
    # The value's JSON text is the string in quotes: two bytes more than its characters.
    loads = f"""
        def on_request(request, settings):
            def compute():
                console.log("computed")
                return "v" * {MAX_VALUE_BYTES - 2}
            console.log(len(cache.load("k" * {MAX_KEY_LENGTH}, -1, compute)))
    """
    assert run(pool, loads, source).logs == ["computed", str(MAX_VALUE_BYTES - 2)]
    assert run(pool, loads, source).logs == [str(MAX_VALUE_BYTES - 2)]


@pytest.mark.parametrize("frame", [
    {"op": "get", "key": "k" * (MAX_KEY_LENGTH + 1), "value": None, "expire": None},
    {"op": "set", "key": "k", "value": "v" * (MAX_VALUE_BYTES + 1), "expire": None},
    {"op": "set", "key": "k", "value": None, "expire": None},
    {"op": "get", "key": "k", "value": "1", "expire": None},
    {"op": "set", "key": "k", "value": "1", "expire": -1},
    {"op": "set", "key": "k", "value": "1", "expire": float("inf")},
    {"op": "delete", "key": "k", "value": None, "expire": 5},
    {"op": "drop", "key": "k", "value": None, "expire": None},
    {"op": "get", "key": ["k"], "value": None, "expire": None},
    {"op": "get", "key": "k"},
])
def test_the_parent_refuses_a_request_no_honest_worker_sends(frame: dict[str, Any]) -> None:
    # What the pool decodes each cache frame with; a refusal kills the worker that sent it.
    with pytest.raises((ValueError, TypeError, KeyError)):
        CacheRequest.from_dict(frame)


def test_dropping_a_store_deletes_it(pool: BlockingPool, stores: CacheStores,
                                     tmp_path: Path) -> None:
    kept, dropped = stores.answerer("function", "kept"), stores.answerer("function", "dropped")
    assert computed(run(pool, LOAD, kept, TTL="-1"))
    assert computed(run(pool, LOAD, dropped, TTL="-1"))
    pool.run(stores.drop("function", "dropped"))
    assert sorted(p.name for p in (tmp_path / "function").iterdir()) == ["kept"]
    assert computed(run(pool, LOAD, dropped, TTL="-1"))
    assert not computed(run(pool, LOAD, kept, TTL="-1"))


def test_a_store_name_cannot_leave_the_root(stores: CacheStores) -> None:
    for name in [("..",), ("function", "../other"), ("",), ("a/b",)]:
        with pytest.raises(ValueError, match="cannot name a cache"):
            stores.answerer(*name)


# A worker past its sandbox could send anything: the parent refuses it

# Speaks the protocol as a worker would, then sends ``FRAMES`` (JSON) for the first job.
FAKE_WORKER = """#!{python}
import json, os, sys
sys.path.insert(0, {root!r})
from segfn.sandbox import protocol
out = os.fdopen(1, "wb")
def send(message):
    out.write(protocol.encode(message))
    out.flush()
protocol.read_frame(sys.stdin.buffer)  # its configuration
send({{"op": "ready", "pid": os.getpid(), "uid": os.getuid(), "confinements": []}})
number = protocol.read_frame(sys.stdin.buffer)["id"]
for request in json.loads({frames!r}):
    send({{"op": "cache", "id": number, "request": request}})
while protocol.read_frame(sys.stdin.buffer) is not None:
    pass
"""


@pytest.mark.parametrize(("requests", "reason"), [
    ([{"op": "get", "key": "k", "value": None, "expire": None}] * 2,
     "a second cache request before the first was answered"),
    ([{"op": "set", "key": "k", "value": "v" * (MAX_VALUE_BYTES + 1), "expire": None}],
     f"cache value is over {MAX_VALUE_BYTES} bytes"),
    ([{"op": "get", "key": "k" * (MAX_KEY_LENGTH + 1), "value": None, "expire": None}],
     f"cache key is over {MAX_KEY_LENGTH} characters"),
])
def test_a_worker_sending_what_the_parent_refuses_is_killed(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, requests: list[dict[str, Any]],
        reason: str) -> None:
    script = tmp_path / "fake-worker"
    script.write_text(FAKE_WORKER.format(python=sys.executable, frames=json.dumps(requests),
                                         root=str(Path(__file__).resolve().parents[1])))
    script.chmod(0o755)
    asked: list[CacheRequest] = []

    async def answer(request: CacheRequest) -> CacheAnswer:
        asked.append(request)
        await asyncio.Event().wait()  # never answered: the second request comes meanwhile
        return CacheAnswer()

    monkeypatch.setattr(sys, "executable", str(script))
    # Unconfined: the fake worker's script lives where a confined worker could not see it.
    with BlockingPool(size=1, limits=Limits(timeout=2.0, grace=0.5),
                      plan=Plan.unconfined()) as fake:
        result = fake.invoke(Job(Handler(LOAD, "handler.py"), HttpRequest(b"{}")), cache=answer)
    assert result.error is not None and result.error.type == "BadRequest"
    assert f"worker crashed: protocol error: {reason}" in result.error.message
    assert len(asked) == (1 if len(requests) == 2 else 0)
