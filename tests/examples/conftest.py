"""Shared by the example tests: the recorded deliveries.

A test module names its provider with ``SOURCE = "github"``; any test taking a ``payload``
argument then runs once per delivery in ``payloads/<SOURCE>/`` (the shared recordings) and in
``tests/examples/payloads/<SOURCE>/`` (deliveries from the providers' own fixtures and docs,
each naming where it came from in its ``"source"``), all of them in the pytest
plugin's one worker pool (test_cli.py checks that ``segfn invoke`` agrees with it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The deliveries are vendored as payloads/ in the checkout, or shared beside it.
PAYLOADS = next((p for p in (ROOT / "payloads", ROOT.parent / "shared" / "payloads")
                 if p.is_dir()), ROOT / "payloads")
# Deliveries gathered from providers' SDK fixtures and documentation.
OWN_PAYLOADS = Path(__file__).resolve().parent / "payloads"
# Fields that differ between two runs of the same delivery.
VOLATILE = ("messageId", "timestamp", "context")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "payload" in metafunc.fixturenames:
        source = metafunc.module.SOURCE
        files = sorted((PAYLOADS / source).glob("*.json")) + sorted(
            (OWN_PAYLOADS / source).glob("*.json"))
        metafunc.parametrize("payload", files, ids=[f.stem for f in files])


@pytest.fixture
def payloads(request: pytest.FixtureRequest) -> Path:
    """The directory of the test module's recorded deliveries."""
    return PAYLOADS / request.module.SOURCE


@pytest.fixture
def own_payloads(request: pytest.FixtureRequest) -> Path:
    """The directory of the deliveries taken from the provider's fixtures and docs."""
    return OWN_PAYLOADS / request.module.SOURCE


def stable(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in m.items() if k not in VOLATILE} for m in messages]
