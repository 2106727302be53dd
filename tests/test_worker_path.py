"""Workers import only what they need: no directory of the runner's (its current
directory, a checkout, the folder of an operator's module) can shadow a module the worker
or the sandbox imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from segfn.sandbox.compiler import Handler
from segfn.sandbox.confine.plan import Plan, decide
from segfn.sandbox.invocation import HttpRequest, Job
from segfn.sandbox.pool import BlockingPool

SEGFN = Path(sys.executable).parent / "segfn"
PYTEST = Path(sys.executable).parent / "pytest"
GITHUB = Path(__file__).resolve().parents[1] / "examples" / "github.py"
DELIVERY = Path("/work/shared/payloads/github/issue-opened.json")
SHADOWED = ("types", "json", "logging", "random", "uuid", "base64", "re", "attrs")
HANDLER = '''
import json
import labels

def on_request(request, settings):
    print(labels.shout(json.dumps(request.json())))
'''


def shadows(directory: Path) -> None:
    """Modules named as the standard library's (and a dependency's) that break on import."""
    for name in SHADOWED:
        (directory / f"{name}.py").write_text(f"raise SystemExit('the shadowing {name}.py')\n")


def plans() -> list[Plan]:
    chosen = decide()
    return [Plan.unconfined(), *(() if chosen.bwrap is None else (chosen,))]


@pytest.mark.parametrize("plan", plans(), ids=lambda plan: "bwrap" if plan.bwrap else "bare")
def test_the_folder_of_an_operator_module_shadows_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plan: Plan) -> None:
    (tmp_path / "labels.py").write_text("def shout(text):\n    return text.upper()\n")
    shadows(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    with BlockingPool(size=1, modules={"labels": ["shout"]}, plan=plan) as pool:
        result = pool.invoke(Job(Handler(HANDLER), HttpRequest(b'{"a": "b"}')))
    assert result.ok, result.error
    assert result.logs == ['{"A": "B"}']


def test_invoke_in_a_folder_of_shadows_with_a_handler_named_json(tmp_path: Path) -> None:
    shadows(tmp_path)
    (tmp_path / "json.py").write_text(GITHUB.read_text())
    done = subprocess.run([SEGFN, "invoke", "json.py", "--payload", DELIVERY, "--json",
                           "--settings", _settings(tmp_path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["messages"][1]["event"] == "Issue Opened"


def test_the_plugin_in_a_folder_of_shadows(tmp_path: Path) -> None:
    shadows(tmp_path)
    (tmp_path / "json.py").write_text(GITHUB.read_text())
    (tmp_path / "test_handler.py").write_text(
        "def test_it(load_handler):\n"
        "    github = load_handler('json.py', settings={'webhookSecret': ''})\n"
        f"    result = github.post_payload({str(DELIVERY)!r})\n"
        "    assert result.tracks[0]['event'] == 'Issue Opened', result.error\n")
    done = subprocess.run([PYTEST, "-q", "-p", "no:cacheprovider"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def _settings(directory: Path) -> str:
    path = directory / "settings.json"
    path.write_text('{"webhookSecret": ""}')
    return str(path)

