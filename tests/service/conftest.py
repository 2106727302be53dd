"""Fixtures for the service tests: real ``segfn serve`` processes on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.runner.conftest import destination, fake_segment  # noqa: F401 - fixtures here too
from tests.service.harness import Cli, Serve


@pytest.fixture
def start_serve(tmp_path: Path) -> Iterator[Callable[..., Serve]]:
    """Start ``segfn serve`` with extra arguments; every service is stopped at the end.

    ``data_dir`` defaults to one per test; ``env`` adds environment variables.
    """
    started: list[Serve] = []

    def start(*args: str, data_dir: Path | None = None,
              env: dict[str, str] | None = None) -> Serve:
        serve = Serve(data_dir or tmp_path / "data", list(args), env).start()
        started.append(serve)
        return serve

    yield start
    for serve in started:
        if serve.process is not None and serve.process.poll() is None:
            serve.kill()


@pytest.fixture
def cli(serve: Serve, tmp_path: Path) -> Cli:
    """``segfn``, logged in as the owner of the module's ``serve``."""
    cli = Cli(tmp_path / "config")
    cli("login", serve.url, serve.owner_token)
    return cli
