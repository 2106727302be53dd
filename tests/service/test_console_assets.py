"""The console's shipped files: what a fresh build of console/ makes, served under a strict CSP.

``pip install`` needs no Node because the built files are in the package; this checks they
are the build of the sources and lockfile beside them, byte for byte.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from runner.service.console import ASSETS, CONTENT_SECURITY_POLICY, STATIC
from tests.paths import ROOT
from tests.service.harness import Serve

SOURCES = ROOT / "console"


def test_the_shipped_assets_are_a_fresh_build_of_console(tmp_path: Path) -> None:
    """And the sources type-check (``tsc``, strict)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm build the console; they are not on this machine")
    build = tmp_path / "console"
    shutil.copytree(SOURCES, build, ignore=shutil.ignore_patterns("node_modules"))
    for command in (["npm", "ci", "--no-audit", "--no-fund"], ["npm", "run", "check"],
                    ["node", "build.mjs", str(tmp_path / "out")]):
        done = subprocess.run(command, cwd=build, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stdout + done.stderr
    built = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    shipped = {p.name: p.read_bytes() for p in STATIC.iterdir()}
    assert set(built) == set(ASSETS) == set(shipped)
    stale = [name for name in built if built[name] != shipped[name]]
    assert not stale, f"{stale} differ from a fresh build: cd console && npm ci && npm run build"


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    service = Serve(tmp_path_factory.mktemp("assets") / "data", [])
    service.start()
    yield service
    service.stop()


def test_every_asset_is_served_with_its_type_and_the_policy(serve: Serve) -> None:
    for name, media_type in ASSETS.items():
        answer = httpx.get(f"{serve.url}console/{name}", timeout=10)
        assert answer.status_code == 200
        assert answer.headers["content-type"] == media_type
        assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.content == (STATIC / name).read_bytes()
    page = httpx.get(f"{serve.url}console/", timeout=10)
    assert page.content == (STATIC / "index.html").read_bytes()
    # The page loads only its own script and style: nothing inline, nothing from elsewhere.
    assert b"<script>" not in page.content and b"style=" not in page.content
    assert b"http" not in page.content
    redirected = httpx.get(f"{serve.url}console", timeout=10)
    assert redirected.status_code == 308
    assert redirected.headers["location"] == "/console/"


@pytest.mark.parametrize("name", ["nope.js", "%2e%2e", "index.html%00", "app.js.map",
                                  "__init__.py", "..%2F__init__.py", "static%2Fapp.js"])
def test_nothing_else_is_served(serve: Serve, name: str) -> None:
    answer = httpx.get(f"{serve.url}console/{name}", timeout=10)
    # A name with a slash is no console path at all: the webhooks (POST only) answer it.
    assert answer.status_code == (405 if "%2F" in name else 404)
    assert answer.json()["ok"] is False
    assert b"import" not in answer.content
    if answer.status_code == 404:
        assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
