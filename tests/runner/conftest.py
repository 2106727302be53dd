"""Fixtures for the runner tests: a fake Tracking API and real ``segfn run`` processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.runner.destination import FaultyDestination
from tests.runner.harness import FakeSegment, Runner


@pytest.fixture
def fake_segment() -> Iterator[FakeSegment]:
    fake = FakeSegment()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def destination() -> Iterator[FaultyDestination]:
    """A Tracking API that answers as the test's rules say (see destination.py)."""
    with FaultyDestination() as fake:
        yield fake


@pytest.fixture
def start_runner(tmp_path: Path) -> Iterator[Callable[..., Runner]]:
    """Start ``segfn run`` on a handler source; every runner is stopped at the end."""
    runners: list[Runner] = []

    def start(source: str, *args: str, data_dir: Path | None = None,
              handler_path: Path | None = None) -> Runner:
        path = handler_path or tmp_path / "handler.py"
        path.write_text(source)
        runner = Runner(path, data_dir or tmp_path / "data", list(args)).start()
        runners.append(runner)
        return runner

    yield start
    for runner in runners:
        if runner.process is not None and runner.process.poll() is None:
            runner.kill()


