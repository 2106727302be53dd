"""The README's examples do what it says they do."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import PAYLOADS, ROOT

README = (ROOT / "README.md").read_text("utf-8")


def block_with(text: str, language: str = "python") -> str:
    """The README's fenced block of ``language`` that contains ``text``."""
    blocks = re.findall(rf"^```{language}\n(.*?)^```$", README, re.M | re.S)
    [block] = [b for b in blocks if text in b]
    return block


@pytest.mark.skipif(not PAYLOADS.is_dir(), reason="no shared payload files here")
def test_the_pytest_example_passes_from_any_directory(tmp_path: Path) -> None:
    # The example's layout: a checkout's tests/ beside ../shared/payloads, run from elsewhere.
    checkout = tmp_path / "checkout"
    (checkout / "tests").mkdir(parents=True)
    (checkout / "examples").symlink_to(ROOT / "examples")
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "payloads").symlink_to(PAYLOADS)
    test = checkout / "tests" / "test_readme_example.py"
    test.write_text(block_with("def test_issue_opened(load_handler)"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(test)], capture_output=True, text=True, cwd=elsewhere,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout


def test_the_quickstart_runs_then_sends_then_looks() -> None:
    quick = README[:README.index("## Writing a handler")]
    order = [quick.index(step) for step in ("segfn run examples/github.py",
                                           "curl -s http://127.0.0.1:8080/",
                                           "segfn events", "python3 -m tox")]
    # Nothing else between starting the runner and looking at what it stored.
    assert order == sorted(order)


def test_the_service_walkthrough_changes_the_code_before_each_deploy_and_rollback() -> None:
    walk = block_with("segfn rollback", "sh").splitlines()
    deploys = [i for i, line in enumerate(walk) if line.startswith("segfn deploy")]
    rollback = next(i for i, line in enumerate(walk) if line.startswith("segfn rollback"))
    assert len(deploys) >= 2
    # Between the first save and each later deploy, and before the rollback, the code
    # changes: each of them shows a version change.
    for later in [*deploys[1:], rollback]:
        assert any("github.py" in line and ("sed " in line or ">" in line)
                   for line in walk[deploys[0]:later]), walk[deploys[0]:later]


def test_the_test_command_installs_what_ci_installs() -> None:
    # .ci/run installs a Debian package only where its command or library is missing.
    ci = (ROOT / ".ci" / "run").read_text("utf-8")
    needed = set(re.findall(r"missing\+=\(([\w.-]+)\)", ci))
    [command] = [line for line in block_with("python3 -m tox", "sh").splitlines()
                 if "apt-get install" in line]
    installed = set(command.split("apt-get install -y ")[1].split(" && ")[0].split())
    assert needed and installed == needed
    assert "apt-get update" in command
