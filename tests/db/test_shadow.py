"""A shadow deploy's counts and diffs in the store, on both backends (runner/shadow.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from runner import shadow
from runner.store import Db, Store


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = Store(database_url)
    yield opened
    opened.close()


def verdict(n: int, outcome: str) -> dict[str, Any]:
    return {"delivery": f"inv-{n}", "outcome": outcome, "before": [{"n": n}],
            "after": [] if outcome == "failed" else [{"n": -n}],
            "error": {"type": "Timeout", "message": "slow"} if outcome == "failed" else None}


def test_counts_are_by_version_and_only_the_newest_diffs_are_kept(store: Store) -> None:
    outcomes = ["same", "changed", "failed", "skipped"]
    total = shadow.KEEP_DIFFS * 2 + 8

    def record(db: Db) -> None:
        for n in range(total):
            shadow.record(db, source="src", version=2, verdict=verdict(n, outcomes[n % 4]),
                          now=1000.0 + n)
        shadow.record(db, source="src", version=3, verdict=verdict(0, "same"), now=5000.0)
        shadow.record(db, source="other", version=2, verdict=verdict(0, "changed"), now=1.0)

    asyncio.run(store.run(record))
    report = asyncio.run(store.read(lambda db: shadow.read(db, source="src", version=2)))
    quarter = total // 4
    assert {k: report[k] for k in ("same", "changed", "failed", "skipped", "compared")} == {
        "same": quarter, "changed": quarter, "failed": quarter, "skipped": quarter,
        "compared": 3 * quarter}
    assert report["since"] == 1000.0
    # Kept: the newest KEEP_DIFFS of the source (of any version), newest first.
    diffed = [n for n in range(total) if outcomes[n % 4] in ("changed", "failed")]
    assert [d["delivery"] for d in report["diffs"]] == [
        f"inv-{n}" for n in reversed(diffed[-shadow.KEEP_DIFFS:])]
    newest = report["diffs"][0]
    assert newest["before"] == [{"n": diffed[-1]}] and newest["error"]["type"] == "Timeout"
    assert asyncio.run(store.read(
        lambda db: shadow.read(db, source="src", version=3)))["same"] == 1

    asyncio.run(store.run(lambda db: shadow.forget(db, "src")))
    forgotten = asyncio.run(store.read(lambda db: shadow.read(db, source="src", version=2)))
    assert (forgotten["compared"], forgotten["since"], forgotten["diffs"]) == (0, None, [])
    assert asyncio.run(store.read(
        lambda db: shadow.read(db, source="other", version=2)))["changed"] == 1


def test_an_unknown_outcome_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="no shadow outcome 'odd'"):
        asyncio.run(store.run(lambda db: shadow.count(db, source="s", version=1,
                                                      outcome="odd", now=0.0)))
