import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from segfn.cli import main
from segfn.cli.new import TEMPLATE_CALLS, settings_from_docstring, template_names, template_source
from segfn.payloads import load_payload

ROOT = Path(__file__).resolve().parents[1]


def run_new(*args):
    return CliRunner().invoke(main, ["new", *args], catch_exceptions=False)


def run_pytest(path):
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(path)], capture_output=True, text=True, cwd=path, timeout=120)


def test_minimal_handler(tmp_path):
    result = run_new("hook", "--dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "hook.delivery.json", "hook.py", "hook.settings.json", "test_hook.py"]
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
        "gh.py", "gh.settings.json", "gh.delivery.json", "test_gh.py"]
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
    unknown = run_new("x", "--template", "nope", "--dir", str(tmp_path))
    assert unknown.exit_code == 2
    assert "no example named 'nope'; the templates are: adyen, auth0, calendly, " \
           "close-io," in " ".join(unknown.output.split())
    assert all(name in unknown.output for name in template_names())
    assert run_new("not-a-module", "--dir", str(tmp_path)).exit_code == 2
    assert list(tmp_path.iterdir()) == []


def test_every_example_is_a_template_with_its_delivery():
    examples = sorted(p.stem for p in (ROOT / "examples").glob("*.py"))
    assert sorted(TEMPLATE_CALLS) == examples
    for example in examples:
        assert "def on_request(request, settings):" in template_source(example)
        load_payload(ROOT / "examples" / "deliveries" / f"{example}.json")


def test_the_next_hint_runs_and_says_how_to_get_pytest(tmp_path):
    hint = run_new("hook", "--dir", str(tmp_path)).output.split("next:")[1]
    invoke_line, pytest_line = [line.strip() for line in hint.strip().splitlines()]
    assert "pip install 'segfn[test]'" in pytest_line
    assert invoke_line.startswith("segfn invoke ")
    done = subprocess.run([str(Path(sys.executable).with_name("segfn")),
                           *invoke_line.split()[1:], "--json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert [m["event"] for m in json.loads(done.stdout)["messages"]] == ["Signed Up"]


def test_every_generated_test_passes_then_fails_when_the_handler_is_broken(tmp_path):
    for template in template_names():
        name = template.replace("-", "_")
        assert run_new(f"my_{name}", "--template", template,
                       "--dir", str(tmp_path)).exit_code == 0
    assert run_new("plain", "--dir", str(tmp_path)).exit_code == 0
    done = run_pytest(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{2 * (len(TEMPLATE_CALLS) + 1)} passed" in done.stdout

    # A handler that emits a call less, or another event, fails its own test.
    github = tmp_path / "my_github.py"
    source = github.read_text()
    assert 'f"Issue {action(body)}"' in source
    github.write_text(source.replace('f"Issue {action(body)}"', '"Issue Shut"'))
    plain = tmp_path / "plain.py"
    plain.write_text(plain.read_text().replace('body.get("event") or ', ""))
    broken = run_pytest(tmp_path)
    assert broken.returncode == 1
    assert "2 failed" in broken.stdout, broken.stdout
    assert "test_plain.py::test_the_delivery_becomes_these_calls" in broken.stdout
    assert "test_my_github.py::test_the_delivery_becomes_these_calls" in broken.stdout


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
