"""Saving code to a service refuses what would fail every run, naming the file given."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.service.harness import Cli, Serve

HANDLER = """
def on_request(request, settings):
    Segment.track({"event": "Hit", "userId": "u"})
"""


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    """A service whose handlers may import textwrap.dedent too (--modules)."""
    directory = tmp_path_factory.mktemp("serve")
    modules = directory / "modules.json"
    modules.write_text(json.dumps({"textwrap": ["dedent"]}))
    serve = Serve(directory / "data", ["--modules", str(modules)]).start()
    yield serve
    serve.stop()


def saved_names(cli: Cli) -> list[str]:
    return [f["name"] for f in cli.json("functions", "list")["functions"]]


@pytest.mark.parametrize("line", ["import os", "from subprocess import run",
                                  "import json, socket", "from . import sibling"])
def test_deploy_refuses_an_import_the_sandbox_refuses_and_saves_nothing(
        cli: Cli, tmp_path: Path, line: str) -> None:
    handler = tmp_path / "importer.py"
    handler.write_text(f'"""Imports."""\n{line}\n{HANDLER}')
    refused = cli("deploy", handler, code=1)
    assert refused.stderr.startswith(f"error: CompileError: {handler}:2: ")
    module = {"import os": "'os'", "from subprocess import run": "'subprocess'",
              "import json, socket": "'socket'", "from . import sibling": "relative"}[line]
    assert module in refused.stderr and "not available to functions" in refused.stderr
    assert "importer" not in saved_names(cli)


def test_an_import_inside_a_function_is_checked_too(cli: Cli, tmp_path: Path) -> None:
    handler = tmp_path / "inner.py"
    handler.write_text(HANDLER + "\ndef later():\n    import os\n")
    refused = cli("functions", "create", "inner", "--code", handler, code=1)
    assert refused.stderr.startswith(f"error: CompileError: {handler}:6: module 'os'")


def test_exposed_modules_and_the_operators_extra_modules_are_saved(
        cli: Cli, tmp_path: Path) -> None:
    handler = tmp_path / "allowed.py"
    handler.write_text("import json\nfrom urllib.parse import quote\nfrom segfn import Segment\n"
                       "from textwrap import dedent\n" + HANDLER)
    assert "created function allowed" in cli("deploy", handler).stdout
    # A name the operator did not expose is refused, with the module it was looked for in.
    handler.write_text("from textwrap import wrap\n" + HANDLER)
    refused = cli("deploy", handler, code=1)
    assert f"{handler}:1: textwrap.wrap is not available" in refused.stderr


def test_a_compile_error_names_the_file_given_not_the_functions_name(
        cli: Cli, tmp_path: Path) -> None:
    handler = tmp_path / "src" / "my_handler.py"
    handler.parent.mkdir()
    handler.write_text("def on_request(request, settings)\n    pass\n")
    refused = cli("deploy", handler, "--name", "named-otherwise", code=1)
    assert refused.stderr.startswith(f"error: CompileError: {handler}:1: syntax error")
    assert "named-otherwise.py" not in refused.stderr

    good = tmp_path / "good.py"
    good.write_text(HANDLER)
    cli("deploy", good, "--name", "updated")
    refused = cli("functions", "update", "updated", "--code", handler, code=1)
    assert refused.stderr.startswith(f"error: CompileError: {handler}:1: syntax error")
    refused = cli("functions", "create", "fresh", "--code", handler, code=1)
    assert refused.stderr.startswith(f"error: CompileError: {handler}:1: syntax error")
