"""Operator-configured modules (SPEC 11): exposed by name, still behind the guards."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from segfn.sandbox.compiler import Handler
from segfn.sandbox.invocation import HttpRequest, Job
from segfn.sandbox.modules import read_module_config
from segfn.sandbox.pool import BlockingPool

SEGFN = [str(Path(sys.executable).parent / "segfn")]

HANDLER = '''
import textwrap
from textwrap import dedent

def on_request(request, settings):
    print(dedent("    indented"), textwrap.shorten("a b c d e f", width=5))
'''


def config_file(tmp_path: Path, config: object) -> str:
    path = tmp_path / "modules.json"
    path.write_text(json.dumps(config))
    return str(path)


@pytest.fixture(scope="module")
def pool() -> Iterator[BlockingPool]:
    """A pool of its own, not the session's (tests/conftest.py): its modules differ."""
    with BlockingPool(size=1, modules={"textwrap": ["dedent", "shorten"]}) as pool:
        yield pool


def run(pool: BlockingPool, source: str):
    return pool.invoke(Job(Handler(source), HttpRequest(b"{}")))


def test_a_configured_module_is_importable(pool: BlockingPool) -> None:
    result = run(pool, HANDLER)
    assert result.ok, result.error
    assert result.logs == ["indented [...]"]


def test_only_the_listed_names_are_exposed(pool: BlockingPool) -> None:
    result = run(pool, "from textwrap import wrap\ndef on_request(r, s):\n    pass\n")
    assert result.error.type == "InvalidSettings"
    assert "textwrap.wrap is not available" in result.error.message
    walked = run(pool, "import textwrap\ndef on_request(r, s):\n    textwrap.re\n")
    assert walked.error.type == "BadRequest"
    assert "no exposed name 're'" in walked.error.message


def test_the_defaults_are_still_there(pool: BlockingPool) -> None:
    result = run(pool, "import json\ndef on_request(r, s):\n    print(json.dumps([1]))\n")
    assert result.logs == ["[1]"]


@pytest.mark.parametrize(("config", "message"), [
    ({"textwrap": ["nope"]}, "has no attribute 'nope'"),
    ({"no_such_module_here": ["x"]}, "No module named"),
    ({"os": ["path"]}, "os.path is a module"),
    ({"textwrap": ["_private"]}, "do not start with _"),
    (["textwrap"], "expected"),
])
def test_a_bad_config_is_refused_with_its_reason(tmp_path: Path, config: object,
                                                 message: str) -> None:
    with pytest.raises(ValueError, match=message):
        read_module_config(config_file(tmp_path, config))


def test_invoke_takes_a_modules_file(tmp_path: Path) -> None:
    handler = tmp_path / "handler.py"
    handler.write_text(HANDLER)
    modules = config_file(tmp_path, {"textwrap": ["dedent", "shorten"]})
    done = subprocess.run([*SEGFN, "invoke", str(handler), "--modules", modules, "--json"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["logs"] == ["indented [...]"]
    without = subprocess.run([*SEGFN, "invoke", str(handler), "--json"],
                             capture_output=True, text=True)
    assert without.returncode == 1
    bad = subprocess.run([*SEGFN, "invoke", str(handler), "--modules",
                          config_file(tmp_path, {"os": ["path"]})], capture_output=True,
                         text=True)
    assert bad.returncode == 2
    assert "os.path is a module" in bad.stderr


def test_the_pytest_plugin_takes_the_same_modules_file(tmp_path: Path) -> None:
    (tmp_path / "handler.py").write_text(HANDLER)
    config_file(tmp_path, {"textwrap": ["dedent", "shorten"]})
    (tmp_path / "pytest.ini").write_text("[pytest]\nsegfn_modules = modules.json\n")
    (tmp_path / "test_handler.py").write_text(
        "def test_it(load_handler):\n"
        "    result = load_handler('handler.py').post(json={})\n"
        "    assert result.logs == ['indented [...]'], result.error\n")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
