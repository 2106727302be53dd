"""Background loops are supervised: a crash is logged, the loop restarted, and /healthz
answers 503 while it is down."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from runner import supervisor
from runner.app import create_app
from runner.db import schema
from runner.runtime import Runtime
from runner.source import Source
from runner.store import DATABASE_FILE
from runner.supervisor import Supervisor
from segfn.sandbox.compiler import Handler
from segfn.sandbox.egress import Egress, EgressPolicy
from segfn.sandbox.fleet import Fleet
from segfn.sandbox.pool import WorkerPool
from tests.stored import change


@pytest.fixture(autouse=True)
def quick_restarts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supervisor, "FIRST_RESTART", 0.05)


def test_a_crashed_loop_is_logged_and_started_again(caplog: pytest.LogCaptureFixture) -> None:
    runs: list[int] = []
    finished = asyncio.Event()

    async def flaky() -> None:
        runs.append(len(runs))
        if len(runs) < 3:
            raise sqlite3.OperationalError("database or disk is full")
        finished.set()
        await asyncio.Event().wait()

    async def main() -> list[list[str]]:
        loops = Supervisor()
        seen_down: list[list[str]] = []
        loops.start("delivery", flaky)
        while not finished.is_set():
            seen_down.append(loops.down)
            await asyncio.sleep(0.005)
        assert loops.down == []
        assert loops.restarts["delivery"] == 2
        await loops.close()
        return seen_down

    with caplog.at_level(logging.ERROR, logger="segfn.runner"):
        seen_down = asyncio.run(main())
    assert ["delivery"] in seen_down
    crashes = [r for r in caplog.records if "the delivery loop crashed" in r.getMessage()]
    assert len(crashes) == 2
    assert crashes[0].exc_info is not None
    assert "database or disk is full" in caplog.text


def test_a_loop_name_is_started_once() -> None:
    async def main() -> None:
        loops = Supervisor()
        loops.start("retries", asyncio.Event().wait)
        with pytest.raises(ValueError, match="running already"):
            loops.start("retries", asyncio.Event().wait)
        await loops.close()

    asyncio.run(main())


def test_healthz_is_503_while_the_retry_loop_is_down(tmp_path: Path) -> None:
    source = Source("src_1", "fn", Handler("def on_request(request, settings): pass"))
    runtime = Runtime(tmp_path, Fleet(lambda _: WorkerPool(1), 1), Egress(EgressPolicy()),
                      lambda _: source)
    app = create_app(runtime, lambda path: source if path == "/" else None)
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        # The retry loop's table goes away under it: every round now fails.
        with sqlite3.connect(tmp_path / DATABASE_FILE) as db:
            db.execute("DROP TABLE retries")
        answer = _wait_for_status(client, 503)
        assert answer.json() == {"ok": False, "status": "degraded", "down": ["retries"]}
        change(tmp_path / DATABASE_FILE, schema.retries.create)
        assert _wait_for_status(client, 200).json()["ok"] is True
        assert runtime.supervisor.restarts["retries"] >= 1


def _wait_for_status(client: TestClient, status: int) -> object:
    deadline = time.monotonic() + 30
    while (answer := client.get("/healthz")).status_code != status:
        assert time.monotonic() < deadline, f"/healthz never answered {status}"
        time.sleep(0.02)
    return answer
