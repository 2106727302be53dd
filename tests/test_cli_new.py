import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from segfn.cli import main
from segfn.cli.new import settings_from_docstring, template_source


def run_new(*args):
    return CliRunner().invoke(main, ["new", *args], catch_exceptions=False)


def run_pytest(path):
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(path)], capture_output=True, text=True, cwd=path, timeout=120)


def test_minimal_handler(tmp_path):
    result = run_new("hook", "--dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "hook.py", "hook.settings.json", "test_hook.py"]
    assert "def on_request(request, settings):" in (tmp_path / "hook.py").read_text()
    assert json.loads((tmp_path / "hook.settings.json").read_text()) == {}
    assert "pytest" in result.output and "segfn invoke" in result.output
    done = run_pytest(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_from_a_template(tmp_path):
    result = run_new("gh", "--template", "stripe-events", "--dir", str(tmp_path), "--json")
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)["created"]
    assert [p.rsplit("/", 1)[-1] for p in created] == [
        "gh.py", "gh.settings.json", "test_gh.py"]
    assert (tmp_path / "gh.py").read_text() == template_source("stripe_events")
    assert json.loads((tmp_path / "gh.settings.json").read_text()) == {"webhookSecret": ""}
    done = run_pytest(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_refuses_to_overwrite(tmp_path):
    (tmp_path / "hook.py").write_text("# mine\n")
    result = run_new("hook", "--dir", str(tmp_path))
    assert result.exit_code == 2
    assert "hook.py already exists" in result.output
    assert (tmp_path / "hook.py").read_text() == "# mine\n"
    assert not (tmp_path / "test_hook.py").exists()


def test_unknown_template_and_bad_name(tmp_path):
    assert run_new("x", "--template", "nope", "--dir", str(tmp_path)).exit_code == 2
    assert run_new("not-a-module", "--dir", str(tmp_path)).exit_code == 2
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("template", ["github", "stripe-events", "paypal", "typeform",
                                      "formstack", "shopify"])
def test_every_template_is_shipped(template):
    assert "def on_request(request, settings):" in template_source(template)


def test_settings_from_docstring():
    source = '''"""Doc.

Settings:
    apiKey (string, required, encrypted): the key.
    region (string, required): where.
    verbose (boolean, optional): more logs.
"""
'''
    assert settings_from_docstring(source) == {"apiKey": "", "region": "<region>",
                                               "verbose": False}
