"""A throwaway PostgreSQL server for the test session, and a fresh database for each test.

``start`` runs initdb in a temporary directory and starts the server on a free loopback
port (its socket in that directory too), as the unprivileged ``postgres`` user when the
tests run as root (PostgreSQL refuses to run as root). A watchdog process stops it (``pg_ctl
stop -m immediate``, bounded) and removes the directory if the session dies without doing
so itself, even by ``kill -9``. For tests fsync is off, since a crash of the test machine
loses nothing worth keeping; the product's commits are durable.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import attrs

# Debian's postgresql package installs its binaries here (one folder per major version).
BINARIES = "/usr/lib/postgresql/*/bin"
USER = "postgres"
# The superuser initdb makes, and the one the tests connect as (trusted on loopback).
ROLE = "segfn"
START_SECONDS = 60
STOP_SECONDS = 20

# It reads a pipe whose other end only the session holds: end of file, the session is gone.
_WATCHDOG = """
import os, shutil, subprocess, sys
alive, stop, folder = int(sys.argv[1]), sys.argv[2:-1], sys.argv[-1]
while os.read(alive, 1):
    pass
if os.path.exists(os.path.join(folder, "data", "postmaster.pid")):
    subprocess.run(stop, timeout=30, capture_output=True)
shutil.rmtree(folder, ignore_errors=True)
"""


class Missing(RuntimeError):
    """No PostgreSQL binaries on this machine."""


def binaries() -> Path:
    """The newest PostgreSQL's bin folder; ``Missing`` saying what to install."""
    found = sorted(glob.glob(os.path.join(BINARIES, "initdb")),
                   key=lambda p: int(Path(p).parent.parent.name)
                   if Path(p).parent.parent.name.isdigit() else 0)
    if not found:
        raise Missing(f"no PostgreSQL binaries in {BINARIES} (initdb, pg_ctl): install "
                      "Debian's package 'postgresql' (.ci/run does when it is missing)")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@attrs.frozen
class Server:
    """A running throwaway server: where it is and how to stop it."""

    folder: Path
    bin: Path
    port: int
    as_user: tuple[str, ...]
    watchdog: subprocess.Popen[bytes]
    # The session's end of the watchdog's pipe (closed only by the session's death or stop).
    alive: int

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{ROLE}@127.0.0.1:{self.port}/{database}"

    def pg_ctl(self, *args: str) -> list[str]:
        return [*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), *args]

    def stop(self) -> None:
        """Stop the server (fast, then immediate if that takes too long); remove its files."""
        try:
            subprocess.run(self.pg_ctl("stop", "-m", "fast", "-t", str(STOP_SECONDS)),
                           timeout=STOP_SECONDS + 10, capture_output=True, check=True)
        except (subprocess.SubprocessError, OSError):
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                subprocess.run(self.pg_ctl("stop", "-m", "immediate", "-t", "10"),
                               timeout=20, capture_output=True)
        self.watchdog.kill()
        self.watchdog.wait(timeout=10)
        os.close(self.alive)
        shutil.rmtree(self.folder, ignore_errors=True)


def start(durable: bool = False) -> Server:
    """initdb and start a server; ``Missing`` without binaries, RuntimeError with the
    server's log when it does not start. ``durable`` keeps fsync on, as production does
    (benchmarks/fleet.py); tests need not."""
    bin_dir = binaries()
    folder = Path(tempfile.mkdtemp(prefix="segfn-pg-"))
    as_user: tuple[str, ...] = ()
    if os.geteuid() == 0:
        shutil.chown(folder, USER)
        as_user = ("runuser", "-u", USER, "--")
    data, log = folder / "data", folder / "server.log"
    run = [*as_user, str(bin_dir / "initdb"), "-D", str(data), "-U", ROLE, "-A", "trust",
           "-E", "UTF8", "--no-sync", "--no-instructions"]
    done = subprocess.run(run, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {done.stderr or done.stdout}")
    port = _free_port()
    options = (f"-p {port} -h 127.0.0.1 -k {folder} -c max_connections=200"
               + ("" if durable else " -c fsync=off -c full_page_writes=off"))
    stop = [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "stop", "-m", "immediate",
            "-t", "10"]
    alive, held = os.pipe()
    watchdog = subprocess.Popen([sys.executable, "-c", _WATCHDOG, str(alive), *stop,
                                 str(folder)], start_new_session=True, pass_fds=(alive,),
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    os.close(alive)
    server = Server(folder, bin_dir, port, as_user, watchdog, held)
    started = subprocess.run(server.pg_ctl("start", "-w", "-t", str(START_SECONDS), "-l",
                                           str(log), "-o", options),
                             capture_output=True, text=True, timeout=START_SECONDS + 10)
    if started.returncode != 0:
        text = log.read_text() if log.exists() else started.stderr
        server.stop()
        raise RuntimeError(f"PostgreSQL did not start: {text}")
    return server
