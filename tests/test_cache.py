"""``cache`` in real workers, stored with diskcache in a directory per function."""

from __future__ import annotations

import concurrent.futures
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import diskcache
import pytest

from segfn.sandbox.compiler import Handler
from segfn.sandbox.invocation import HttpRequest, Job, Result
from segfn.sandbox.pool import BlockingPool, Limits

# Logs "computed" whenever fn runs, then the value it got.
LOAD = """
import datetime
def on_request(request, settings):
    def compute():
        console.log("computed")
        return {"n": [1]}
    console.log(cache.load("key", TTL, compute))
"""


@pytest.fixture(scope="module")
def pool() -> Iterator[BlockingPool]:
    with BlockingPool(size=2, limits=Limits(timeout=2.0, grace=0.5)) as blocking:
        yield blocking


def run(pool: BlockingPool, source: str, cache_dir: Path | None, **replace: str) -> Result:
    code = textwrap.dedent(source)
    for name, value in replace.items():
        code = code.replace(name, value)
    return pool.invoke(Job(Handler(code, "handler.py"), HttpRequest(b"{}"),
                           cache_dir=str(cache_dir) if cache_dir else None))


def computed(result: Result) -> bool:
    assert result.ok, result.error
    return "computed" in result.logs


def expiry(cache_dir: Path, key: str = "key") -> float | None:
    """When diskcache will drop ``key`` (None: never), read from the store itself."""
    with diskcache.Cache(str(cache_dir)) as store:
        value, expire_time = store.get(key, expire_time=True)
    assert value is not None, f"{key} is not stored"
    return expire_time


def test_a_value_is_kept_for_ttl_milliseconds(pool: BlockingPool, tmp_path: Path) -> None:
    first = run(pool, LOAD, tmp_path, TTL="300")
    second = run(pool, LOAD, tmp_path, TTL="300")
    assert computed(first) and not computed(second)
    assert second.logs == ["{'n': [1]}"]
    time.sleep(0.35)
    assert computed(run(pool, LOAD, tmp_path, TTL="300"))


def test_ttl_zero_is_never_kept(pool: BlockingPool, tmp_path: Path) -> None:
    assert computed(run(pool, LOAD, tmp_path, TTL="0"))
    assert computed(run(pool, LOAD, tmp_path, TTL="0"))
    with diskcache.Cache(str(tmp_path)) as store:
        assert "key" not in store


@pytest.mark.parametrize("ttl", ["None", "-1"])
def test_none_and_minus_one_never_expire(pool: BlockingPool, tmp_path: Path, ttl: str) -> None:
    assert computed(run(pool, LOAD, tmp_path, TTL=ttl))
    assert not computed(run(pool, LOAD, tmp_path, TTL=ttl))
    assert expiry(tmp_path) is None


def test_a_timedelta_ttl_is_accepted(pool: BlockingPool, tmp_path: Path) -> None:
    before = time.time()
    assert computed(run(pool, LOAD, tmp_path, TTL="datetime.timedelta(minutes=2)"))
    assert not computed(run(pool, LOAD, tmp_path, TTL="datetime.timedelta(minutes=2)"))
    expire_time = expiry(tmp_path)
    assert expire_time is not None and before + 119 < expire_time < time.time() + 121


@pytest.mark.parametrize("ttl", ["-2", "-0.5", "datetime.timedelta(seconds=-1)",
                                 "float('nan')"])
def test_other_negative_ttls_are_a_value_error(pool: BlockingPool, tmp_path: Path,
                                               ttl: str) -> None:
    result = run(pool, LOAD, tmp_path, TTL=ttl)
    assert result.error is not None and result.error.type == "BadRequest"
    assert result.error.message.startswith("ValueError: cache ttl")
    assert "computed" not in result.logs


def test_a_failing_fn_stores_nothing_and_its_error_propagates(pool: BlockingPool,
                                                              tmp_path: Path) -> None:
    result = run(pool, """
        def on_request(request, settings):
            def fail():
                raise KeyError("upstream")
            try:
                cache.load("key", -1, fail)
            except KeyError:
                console.log("propagated")
            console.log(cache.load("key", -1, lambda: "fresh"))
    """, tmp_path)
    assert result.logs == ["propagated", "fresh"]


def test_a_value_that_is_not_json_is_an_error_and_not_stored(pool: BlockingPool,
                                                             tmp_path: Path) -> None:
    result = run(pool, """
        def on_request(request, settings):
            cache.load("key", -1, lambda: {1, 2})
    """, tmp_path)
    assert result.error is not None and result.error.type == "BadRequest"
    assert "TypeError" in result.error.message and "not JSON serializable" in result.error.message
    with diskcache.Cache(str(tmp_path)) as store:
        assert "key" not in store


def test_delete_forgets_a_value(pool: BlockingPool, tmp_path: Path) -> None:
    assert computed(run(pool, LOAD, tmp_path, TTL="-1"))
    deleted = run(pool, """
        def on_request(request, settings):
            cache.delete("key")
            cache.delete("never stored")
    """, tmp_path)
    assert deleted.ok
    assert computed(run(pool, LOAD, tmp_path, TTL="-1"))


def test_loaded_values_are_fresh_copies(pool: BlockingPool, tmp_path: Path) -> None:
    result = run(pool, """
        def on_request(request, settings):
            original = {"n": [1]}
            first = cache.load("key", -1, lambda: original)
            original["n"].append("changed the original")
            first["n"].append("changed the first copy")
            console.log(cache.load("key", -1, lambda: None), first is original)
    """, tmp_path)
    assert result.logs == ["{'n': [1]} False"]


def test_each_function_has_its_own_cache(pool: BlockingPool, tmp_path: Path) -> None:
    assert computed(run(pool, LOAD, tmp_path / "one", TTL="-1"))
    assert computed(run(pool, LOAD, tmp_path / "two", TTL="-1"))
    assert not computed(run(pool, LOAD, tmp_path / "one", TTL="-1"))


def test_without_a_cache_directory_fn_runs_every_time(pool: BlockingPool) -> None:
    assert computed(run(pool, LOAD, None, TTL="-1"))
    assert computed(run(pool, LOAD, None, TTL="-1"))


def test_both_workers_share_a_functions_cache(pool: BlockingPool, tmp_path: Path) -> None:
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
        holding = threads.submit(run, pool, holder, tmp_path)
        time.sleep(0.2)
        read = run(pool, reader, tmp_path)
        assert not holding.done(), "the reader ran after the holder, not beside it"
        assert holding.result().ok
    assert read.logs == ["from the first worker"]
