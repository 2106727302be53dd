"""What a worker applies to itself, and what it reports as applied.

Order matters: the worker drops its user first (its imports must work as the user it will
run jobs as), sets its rlimits after its imports, and loads the system-call filter last,
just before its first job (``worker.main``).
"""

from __future__ import annotations

import ctypes
import os
import resource

from segfn.sandbox import protocol
from segfn.sandbox.confine import config, seccomp

_PR_SET_NO_NEW_PRIVS = 38
_PR_CAPBSET_DROP = 24
# Files a worker holds: stdin, stdout, stderr, and what its start-up imports briefly open.
MAX_OPEN_FILES = 32
# A thread per job the parent may send at once, the main thread and the watchdog.
_TASKS_PER_WORKER = protocol.MAX_JOBS_PER_WORKER + 2

_libc = ctypes.CDLL(None, use_errno=True)


def drop_privileges(account: config.Account | None) -> None:
    """No capability left to gain (bounding set, no-new-privs), then ``account``'s user."""
    if account is not None:
        with open("/proc/sys/kernel/cap_last_cap") as last:
            for capability in range(int(last.read()) + 1):
                _prctl(_PR_CAPBSET_DROP, capability)
        os.setgroups([])
        os.setgid(account.gid)
        os.setuid(account.uid)
    _prctl(_PR_SET_NO_NEW_PRIVS, 1)


def task_limit(workers: int) -> int:
    """RLIMIT_NPROC for a pool of ``workers``. The kernel counts every task (thread) of the
    uid, in every worker of every pool, so this is room for all of them, twice over (a
    replacement starts while the worker it replaces dies); forks are the filter's to stop."""
    return _TASKS_PER_WORKER * 2 * max(workers, 8)


def limit_resources(nproc: int | None) -> None:
    """No core dumps (they would hold the invocations' data), few files, few tasks."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (MAX_OPEN_FILES, MAX_OPEN_FILES))
    if nproc is not None:
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))


def filter_system_calls(enabled: bool) -> None:
    if enabled:
        seccomp.install()


def active() -> list[str]:
    """The confinements in force in this process, read from the kernel's view of it."""
    status = _status()
    found = []
    if set(os.environ) <= {*config.ENVIRONMENT, "PWD"}:
        found.append("environment")
    if _root_filesystem() == "tmpfs":
        found.append("mount-namespace")
    if _processes() <= {1, os.getpid()}:
        found.append("pid-namespace")  # alone with bwrap's init
    if _interfaces() == ["lo"]:
        found.append("network-namespace")
    if 0 not in (os.getuid(), os.geteuid()) and int(status["CapEff"], 16) == 0:
        found.append("unprivileged")
    if status.get("NoNewPrivs") == "1":
        found.append("no-new-privs")
    if (resource.getrlimit(resource.RLIMIT_CORE) == (0, 0)
            and resource.getrlimit(resource.RLIMIT_NOFILE)[1] <= MAX_OPEN_FILES):
        found.append("rlimits")
    if status.get("Seccomp") == "2":
        found.append("seccomp")
    return found


def _prctl(option: int, value: int) -> None:
    if _libc.prctl(option, value, 0, 0, 0) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"prctl({option}, {value}): {os.strerror(code)}")


def _status() -> dict[str, str]:
    with open("/proc/self/status") as status:
        return {key: value.strip() for key, _, value in
                (line.partition(":") for line in status)}


def _processes() -> set[int]:
    return {int(entry) for entry in os.listdir("/proc") if entry.isdigit()}


def _root_filesystem() -> str | None:
    """The type of the file system at / (the last mount there is the one in force)."""
    kind = None
    with open("/proc/self/mountinfo") as mounts:
        for line in mounts:
            fields, _, rest = line.partition(" - ")
            if fields.split()[4] == "/":
                kind = rest.split()[0]
    return kind


def _interfaces() -> list[str]:
    with open("/proc/self/net/dev") as dev:
        return [line.split(":")[0].strip() for line in dev.readlines()[2:]]
