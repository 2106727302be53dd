"""The servers the benchmarks load, as processes: started from this checkout, waited for,
measured (their CPU and that of their sandbox workers) and stopped with all below them.

``segfn run`` and ``segfn serve`` (with a function and a source made through its API) are
started here; a benchmark's own servers (throughput.py's plain app) start through
``started`` too.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    path: str = "/"  # where the load goes

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}{self.path}"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def child_env() -> dict[str, str]:
    # The children import segfn from this checkout (a scratch copy benchmarks itself).
    path = os.environ.get("PYTHONPATH")
    return dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{path}" if path else str(ROOT))


@contextlib.contextmanager
def started(name: str, argv: list[str], port: int, workdir: Path,
            ready_path: str | None = "/healthz") -> Iterator[Server]:
    """Run ``argv`` in a process group of its own; stop the whole group on the way out."""
    log = workdir / f"{name}.log"
    # Output goes to a file, never a pipe nobody reads: segfn run prints a line per request
    # and would block on a full pipe.
    with open(log, "wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=workdir,
                                   env=child_env(), start_new_session=True)
    server = Server(name, process, port, log)
    try:
        wait_ready(server, ready_path)
        yield server
    finally:
        stop(process)


def wait_ready(server: Server, path: str | None, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited ({server.process.returncode}):\n"
                               + server.log.read_text(errors="replace")[-2000:])
        try:
            if path is None:
                with contextlib.closing(_connect(server.port)):
                    return
            with urllib.request.urlopen(f"http://{HOST}:{server.port}{path}", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{server.name} was not ready within {timeout:g} s")


def _connect(port: int) -> Any:
    import socket

    return socket.create_connection((HOST, port), timeout=1)


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid``: the sandbox workers run in sessions of their own."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time ``pid`` has used so far, 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # Fields 14 and 15 of stat(5), counted here from field 3 (after the command).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> tuple[float, float]:
    """CPU seconds of ``pid`` itself and of all its descendants (the sandbox workers)."""
    return cpu_seconds(pid), sum(cpu_seconds(child) for child in _descendants(pid))


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group (a graceful uvicorn shutdown), SIGKILL what is left."""
    below = _descendants(process.pid) if Path("/proc").is_dir() else []
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    for pid in below:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def segfn_argv(*args: str) -> list[str]:
    """The segfn CLI of this checkout (``PYTHONPATH``), whatever ``segfn`` is on ``PATH``."""
    return [sys.executable, "-c", "import sys; from segfn.cli import main; main(sys.argv[1:])",
            *args]


def start_segfn(name: str, handler: str, workdir: Path, workers: int) -> Any:
    handler_path = workdir / f"{name}.py"
    handler_path.write_text(handler)
    port = free_port()
    argv = segfn_argv("run", str(handler_path), "--host", HOST, "--port", str(port),
                      "--data-dir", str(workdir / f"{name}-data"), "--workers", str(workers))
    return started(name, argv, port, workdir)


@contextlib.contextmanager
def start_serve(name: str, handler: str, workdir: Path, workers: int) -> Iterator[Server]:
    """``segfn serve`` with ``handler`` as function and source ``bench``, load at its webhook."""
    port = free_port()
    # --rate-limit 0: the default 100 requests/s per source would throttle the load.
    argv = segfn_argv("serve", "--host", HOST, "--port", str(port),
                      "--data-dir", str(workdir / f"{name}-data"), "--workers", str(workers),
                      "--rate-limit", "0")
    with started(name, argv, port, workdir) as server:
        token = owner_token(server.log.read_text())
        api(server, token, "/functions", {"name": "bench", "code": handler})
        source = api(server, token, "/sources", {"name": "bench", "function": "bench"})
        server.path = urllib.parse.urlsplit(source["webhook_url"]).path
        yield server


def owner_token(output: str) -> str:
    """The token ``segfn serve`` prints on its first start, on the line after its title."""
    lines = output.splitlines()
    for index, text in enumerate(lines[:-1]):
        if "Workspace Owner token" in text:
            return lines[index + 1].strip()
    raise RuntimeError(f"no Workspace Owner token in segfn serve's output:\n{output}")


def api(server: Server, token: str, path: str, body: dict[str, Any]) -> Any:
    """POST ``body`` to the service API at ``/api/v1{path}``; its JSON answer."""
    request = urllib.request.Request(
        f"http://{HOST}:{server.port}/api/v1{path}", data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)
