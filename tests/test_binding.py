"""The SDK objects act only for the invocation whose namespace they were given.

A handler's code can outlive its invocation: a generator in a reference cycle is finalized
by the garbage collector in whichever invocation thread happens to trigger it. Its
``finally`` must then reach nothing of the invocation running now (another workspace's,
perhaps): not its messages, logs, cache or fetches.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from segfn.sandbox.pool import BlockingPool
from segfn.testing import LoadedHandler

Load = Callable[..., LoadedHandler]

# Leaves a suspended generator in a reference cycle (generator -> frame -> box -> generator),
# promoted to the oldest generation by the allocations that follow, so that only a full
# collection, in some later invocation, finalizes it.
LEAVES_A_FINALIZER = """
from segfn import Segment as Imported

def on_request(request, settings):
    tenant = settings["tenant"]

    def linger(box):
        try:
            yield
        finally:
            for emit in (
                    lambda: Segment.track({"event": "Leaked from " + tenant, "userId": "1"}),
                    lambda: Imported.track({"event": "Imported from " + tenant, "userId": "1"}),
                    lambda: console.log("log from " + tenant),
                    lambda: print("print from " + tenant),
                    lambda: cache.load("shared-key", -1, lambda: "cached by " + tenant),
                    lambda: cache.delete("theirs"),
                    lambda: fetch("https://leak.example/" + tenant)):
                try:
                    emit()
                except Exception as exc:
                    # Reported by the collector to the worker's stderr.
                    refusals.append(str(exc))
            if refusals:
                raise RuntimeError(" | ".join(refusals))

    refusals = []
    box = []
    lingering = linger(box)
    box.append(lingering)
    next(lingering)
    keep = [[] for _ in range(100000)]
    Segment.track({"event": "Own Event", "userId": "1"})
"""

# Allocates enough to trigger full collections while it runs.
COLLECTS = """
def on_request(request, settings):
    cache.load("theirs", -1, lambda: "mine")
    keep = []
    for _ in range(8):
        keep.append([[] for _ in range(100000)])
        keep.pop()
    Segment.track({"event": "Collector Ran", "userId": "2"})
    console.log(cache.load("shared-key", -1, lambda: "computed by " + settings["tenant"]))
    console.log(cache.load("theirs", -1, lambda: "deleted"))
"""


@pytest.fixture
def worker_stderr(tmp_path: Path) -> Path:
    return tmp_path / "worker-stderr"


@pytest.fixture
def segfn_pool(worker_stderr: Path) -> Iterator[BlockingPool]:
    """One worker, so both handlers surely share its threads and its garbage collector,
    started with its stderr (where the collector reports a finalizer's error) in a file."""
    saved = os.dup(2)
    try:
        with open(worker_stderr, "wb") as file:
            os.dup2(file.fileno(), 2)
            pool = BlockingPool(size=1)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    with pool:
        yield pool


def test_a_finalizer_left_by_one_invocation_reaches_nothing_of_the_next(
        load_handler: Load, worker_stderr: Path) -> None:
    first = load_handler(source=LEAVES_A_FINALIZER, settings={"tenant": "a"})
    second = load_handler(source=COLLECTS, settings={"tenant": "b"})
    own = first.post(json={})
    assert own.ok, own.error
    assert [t["event"] for t in own.tracks] == ["Own Event"]

    collected = second.post(json={})

    assert collected.ok, collected.error
    assert [t["event"] for t in collected.tracks] == ["Collector Ran"]
    assert collected.logs == ["computed by b", "mine"]
    assert second.fetches == []
    # The finalizer did run (in the second invocation's thread, before its result), and every
    # call it made was refused as belonging to an invocation that is over.
    stderr = worker_stderr.read_text()
    assert stderr.count("this invocation has ended") == 7, stderr


def test_the_segfn_module_a_handler_imports_is_its_invocations_own(load_handler: Load) -> None:
    loaded = load_handler(source="""
import segfn
from segfn import Segment as Imported, cache as imported_cache

def on_request(request, settings):
    console.log(segfn.Segment is Segment, Imported is Segment, imported_cache is cache,
                segfn.console is console, segfn.fetch_all == fetch_all)
    Imported.track({"event": "Through The Import", "userId": "1"})
""")
    first, second = loaded.post(json={}), loaded.post(json={})
    assert first.logs == second.logs == ["True True True True True"]
    assert [t["event"] for t in first.tracks] == ["Through The Import"]


def test_outside_the_sandbox_the_sdk_says_no_invocation_is_running() -> None:
    from segfn import Segment, cache, console, fetch

    for call in (lambda: Segment.track({"event": "E", "userId": "1"}),
                 lambda: console.log("x"), lambda: cache.delete("k"),
                 lambda: fetch("https://example.com/")):
        with pytest.raises(RuntimeError, match="no segfn invocation is running"):
            call()
