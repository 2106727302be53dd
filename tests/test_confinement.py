"""Assume breach: unrestricted Python inside a real, confined worker gets nothing.

The probe is not a handler: gdb attaches to a worker from outside and runs plain Python in it
(``PyRun_SimpleString``), so no backdoor a handler could reach is needed or exists. The probe
writes what it found, one JSON line, to the worker's stderr, which the pool sends to a file.
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import segfn
from segfn.sandbox.confine.plan import Plan, decide
from segfn.sandbox.pool import Limits, WorkerPool
from tests.runner.harness import SEGFN
from tests.service.harness import Serve
from tests.test_pool import wait_for

SECRET = "the-operator-secret-key-0123456789"
MARK = "BREACH-PROBE "
EVERY_CONFINEMENT = {"environment", "mount-namespace", "pid-namespace", "network-namespace",
                     "unprivileged", "no-new-privs", "rlimits", "seccomp"}

CHECKOUT = Path(segfn.__file__).resolve().parents[1]
needs_gdb = pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb is not installed")


def probe_source(data_dir: Path, other_cache: Path) -> str:
    """What an attacker's unrestricted code tries; each answer is what it got."""
    return textwrap.dedent(f"""
        import ctypes, errno, json, os, socket, sys
        found = {{}}
        found["secret_in_env"] = any({SECRET!r} in v for v in os.environ.values())
        found["segfn_env"] = sorted(k for k in os.environ if k.startswith("SEGFN"))
        found["env"] = sorted(os.environ)
        def attempt(name, action):
            try:
                found[name] = ["ran", repr(action())]
            except BaseException as exc:
                found[name] = [type(exc).__name__, getattr(exc, "errno", None)]
        attempt("data_dir", lambda: os.listdir({str(data_dir)!r}))
        attempt("other_cache", lambda: os.listdir({str(other_cache)!r}))
        attempt("checkout", lambda: os.listdir({str(CHECKOUT)!r}))
        attempt("passwd", lambda: open("/etc/passwd").read())
        attempt("socket", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        attempt("unix_socket", lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
        def fork():
            pid = os.fork()
            if pid == 0:
                os._exit(0)
            return pid
        attempt("fork", fork)
        attempt("exec", lambda: os.execv(sys.executable, [sys.executable, "-c", "pass"]))
        libc = ctypes.CDLL(None, use_errno=True)
        def ptrace():
            # PTRACE_ATTACH to a pid that does not exist: ESRCH if the call were allowed.
            if libc.ptrace(16, 999999, 0, 0) == -1:
                raise OSError(ctypes.get_errno(), "ptrace")
        attempt("ptrace", ptrace)
        # Out of SCHED_BATCH (segfn.priority) and above the runner: neither may it go.
        attempt("realtime", lambda: os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1)))
        attempt("nice", lambda: os.setpriority(os.PRIO_PROCESS, 0, -1))
        attempt("normal", lambda: os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0)))
        found["uid"] = [os.getuid(), os.geteuid(), os.getgid()]
        found["proc"] = sorted(p for p in os.listdir("/proc") if p.isdigit())
        found["root"] = sorted(os.listdir("/"))
        sys.stderr.write({MARK!r} + json.dumps(found) + "\\n")
        sys.stderr.flush()
    """)


def breach(pid: int, source: str) -> None:
    """Run ``source`` inside process ``pid`` through gdb, holding its GIL."""
    done = subprocess.run(
        ["gdb", "-p", str(pid), "-batch", "-nx",
         "-ex", "call (int)PyGILState_Ensure()",
         "-ex", f"call (int)PyRun_SimpleString({json.dumps(source)})",
         "-ex", "call (void)PyGILState_Release($1)"],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def findings(stderr: Path) -> dict[str, Any]:
    lines = [line for line in stderr.read_text().splitlines() if line.startswith(MARK)]
    assert len(lines) == 1, stderr.read_text()
    return json.loads(lines[0][len(MARK):])


@pytest.fixture()
def secret_in_parent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGFN_SECRET_KEY", SECRET)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)


@pytest.fixture(scope="module")
def plan() -> Plan:
    chosen = decide()
    if chosen.missing:
        pytest.skip(f"this machine cannot confine workers: {'; '.join(chosen.missing)}")
    return chosen


@needs_gdb
def test_unrestricted_code_in_a_worker_finds_nothing(
        tmp_path: Path, secret_in_parent: None, plan: Plan) -> None:
    # What a breached worker must not reach: the runner's data dir and another source's cache.
    data_dir = tmp_path / ".segfn"
    other_cache = data_dir / "caches" / "other-source"
    other_cache.mkdir(parents=True)
    (other_cache / "value").write_text("someone else's")
    stderr = tmp_path / "worker.stderr"

    async def scenario() -> None:
        with stderr.open("wb") as sink:
            async with WorkerPool(size=1, limits=Limits(timeout=2.0), plan=plan,
                                  stderr=sink) as pool:
                (pid,) = pool.pids
                await asyncio.to_thread(breach, pid, probe_source(data_dir, other_cache))

    asyncio.run(scenario())
    found = findings(stderr)
    assert found["secret_in_env"] is False
    assert found["segfn_env"] == []
    assert set(found["env"]) <= {"LANG", "MALLOC_ARENA_MAX", "PWD", "PYTHONPATH"}
    assert found["data_dir"][0] == "FileNotFoundError"
    assert found["other_cache"][0] == "FileNotFoundError"
    assert found["passwd"][0] == "FileNotFoundError"
    # Of an editable install's checkout, the segfn package (and a virtualenv in it) alone:
    # no data dirs, no tests, no runner.
    if found["checkout"][0] != "FileNotFoundError":
        seen = set(ast.literal_eval(found["checkout"][1]))
        prefix = Path(sys.prefix).resolve()
        # The virtualenv's top folder in the checkout: .venv, or .tox of tox's py311.
        venv = (prefix.relative_to(CHECKOUT).parts[0] if prefix.is_relative_to(CHECKOUT)
                else None)
        assert seen <= {"segfn", venv}, seen
    # EPERM is the filter's answer; the kernel's own would differ (ESRCH for ptrace).
    for attack in ("socket", "unix_socket", "fork", "exec", "ptrace"):
        assert found[attack] == ["PermissionError", 1], (attack, found[attack])
    # A breached worker may leave SCHED_BATCH, which only gives it a normal thread's say,
    # but never take the CPU from the runner: no real-time policy, no higher priority.
    # EPERM or EACCES, the filter's or the kernel's: either way refused.
    assert found["realtime"][0] == "PermissionError", found["realtime"]
    assert found["nice"][0] == "PermissionError", found["nice"]
    assert found["normal"][0] in ("ran", "PermissionError")
    uid, euid, gid = found["uid"]
    assert uid != 0 and euid != 0 and gid != 0
    # Itself (2) and bwrap's init (1), alone in their pid namespace.
    assert found["proc"] == ["1", "2"]
    # A root of its own: no /etc, no /tmp (where the data dir is), no /home.
    assert not {"etc", "tmp", "home"} & set(found["root"]), found["root"]


def test_each_worker_reports_its_confinements(plan: Plan) -> None:
    async def scenario() -> list[Any]:
        async with WorkerPool(size=2, plan=plan) as pool:
            return pool.workers

    workers = asyncio.run(scenario())
    assert len(workers) == 2
    assert len({w.pid for w in workers}) == 2
    for worker in workers:
        assert set(worker.confinements) == EVERY_CONFINEMENT
        assert worker.uid != 0
        assert worker.pid != os.getpid()


def test_an_unconfined_worker_says_what_it_lacks() -> None:
    async def scenario() -> list[Any]:
        async with WorkerPool(size=1, plan=Plan.unconfined()) as pool:
            return pool.workers

    (worker,) = asyncio.run(scenario())
    # The environment is never the runner's; everything else but rlimits needs the kernel.
    expected = {"environment", "no-new-privs", "rlimits"}
    assert set(worker.confinements) == expected | ({"unprivileged"} if os.getuid() else set())


# What segfn serve does on a machine that cannot confine workers: here, one without bwrap.


def without_bwrap(tmp_path: Path) -> dict[str, str]:
    empty = tmp_path / "bin"
    empty.mkdir(exist_ok=True)
    return {"PATH": str(empty)}


def test_serve_refuses_to_start_when_workers_cannot_be_confined(tmp_path: Path) -> None:
    done = subprocess.run([*SEGFN, "serve", "--data-dir", str(tmp_path / "data")],
                          env={**os.environ, **without_bwrap(tmp_path)},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "cannot confine sandbox workers" in done.stderr
    assert "bubblewrap (bwrap) is not installed" in done.stderr
    assert "--insecure-workers" in done.stderr
    assert not (tmp_path / "data").exists()  # refused before it touched anything


def test_serve_with_insecure_workers_says_so_on_every_start(tmp_path: Path) -> None:
    for _start in range(2):
        serve = Serve(tmp_path / "data", ["--insecure-workers"], env=without_bwrap(tmp_path))
        serve.start()  # it answers /healthz
        assert serve.stop() == 0
        said = "\n".join(serve.output)
        assert "--insecure-workers: sandbox workers are confined only as far" in said
        assert "bubblewrap (bwrap) is not installed" in said


RUNNER = """
import asyncio, sys
from segfn.sandbox.pool import WorkerPool
async def main():
    pool = WorkerPool(size=2)
    await pool.start()
    print(*pool.pids, flush=True)
    sys.stdin.read()
asyncio.run(main())
"""


def test_a_runner_killed_with_sigkill_leaves_no_worker_behind(plan: Plan) -> None:
    # Once a worker has dropped to its own user bwrap may not signal it: the pid namespace,
    # whose init dies with bwrap, is what takes it down.
    runner = subprocess.Popen([sys.executable, "-c", RUNNER], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert runner.stdout is not None
    pids = [int(pid) for pid in runner.stdout.readline().split()]
    assert len(pids) == 2 and all(Path(f"/proc/{pid}").exists() for pid in pids)
    runner.kill()
    runner.wait()
    wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in pids))
