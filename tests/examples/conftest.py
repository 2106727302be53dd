"""Shared by the example tests: the recorded deliveries, and ``segfn invoke`` run for real.

A test module names its provider with ``SOURCE = "github"``; any test taking a ``payload``
argument then runs once per delivery in ``payloads/<SOURCE>/``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from segfn.sandbox.invocation import Result

ROOT = Path(__file__).resolve().parents[2]
# The deliveries are vendored as payloads/ in the checkout, or shared beside it.
PAYLOADS = next((p for p in (ROOT / "payloads", ROOT.parent / "shared" / "payloads")
                 if p.is_dir()), ROOT / "payloads")
# Fields that differ between two runs of the same delivery.
VOLATILE = ("messageId", "timestamp", "context")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "payload" in metafunc.fixturenames:
        files = sorted((PAYLOADS / metafunc.module.SOURCE).glob("*.json"))
        metafunc.parametrize("payload", files, ids=[f.stem for f in files])


@pytest.fixture
def payloads(request: pytest.FixtureRequest) -> Path:
    """The directory of the test module's recorded deliveries."""
    return PAYLOADS / request.module.SOURCE


def invoke_cli(handler: Path, payload: Path) -> dict[str, Any]:
    """What ``segfn invoke HANDLER --payload FILE --json`` prints, after checking it exits 0."""
    command = [sys.executable, "-c", "from segfn.cli import main; main()", "invoke",
               str(handler), "--payload", str(payload), "--json"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def same_from_cli() -> Callable[[Path, Path, Result], None]:
    """Check that ``segfn invoke HANDLER --payload FILE --json`` exits 0 and emits what the
    plugin's ``result`` holds."""

    def check(handler: Path, payload: Path, result: Result) -> None:
        printed = invoke_cli(handler, payload)
        assert stable(printed["messages"]) == stable(result.messages)
        assert printed["objects"] == list(result.objects)

    return check


def stable(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in m.items() if k not in VOLATILE} for m in messages]
