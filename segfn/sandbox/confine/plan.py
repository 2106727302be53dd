"""Which confinements this machine allows workers, decided once when the runner starts.

``decide`` tries each: bubblewrap and the namespaces it needs (by running it once), an
unprivileged user for a runner that is root, and seccomp. What it cannot have is named in
``Plan.missing``, each with its reason: ``segfn serve`` refuses to start with any missing
(unless ``--insecure-workers``); ``segfn run``, ``segfn invoke`` and the pytest plugin
confine workers as far as the machine allows and say what is missing.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import sys

import attrs

from segfn.sandbox.confine import bwrap, seccomp
from segfn.sandbox.confine.config import Account

DEFAULT_USER = "nobody"
_PROBE_SECONDS = 10


@attrs.frozen
class Plan:
    """How workers are confined. ``bwrap`` is None when they get no namespaces; ``account``
    None when they keep the runner's user (which is then not root)."""

    bwrap: str | None = None
    account: Account | None = None
    seccomp: bool = False
    missing: tuple[str, ...] = ()

    @classmethod
    def unconfined(cls) -> Plan:
        """No confinement the kernel gives: a clean environment and rlimits only."""
        return cls(missing=("confinement: turned off",))


def decide(user: str = DEFAULT_USER) -> Plan:
    missing = []
    runner = shutil.which("bwrap")
    if runner is None:
        missing.append("namespaces: bubblewrap (bwrap) is not installed")
    else:
        refused = _namespaces_refused(runner)
        if refused:
            missing.append(f"namespaces: bwrap cannot make them here ({refused})")
            runner = None
    account = None
    if os.geteuid() == 0:
        account = account_of(user)
        unreachable = None if runner else _unreachable(bwrap.layout(()).binds)
        if unreachable:
            missing.append(f"user: {unreachable} is out of reach of uid {account.uid} "
                           "without a mount namespace; workers stay root")
            account = None
    refused_filter = seccomp.available()
    if refused_filter:
        missing.append(f"seccomp: {refused_filter}")
    return Plan(runner, account, refused_filter is None, tuple(missing))


def account_of(user: str) -> Account:
    """The uid and gid of ``user``: a name, a uid, or ``uid:gid``; never root."""
    name, _, group = user.partition(":")
    try:
        entry = pwd.getpwuid(int(name)) if name.isdigit() else pwd.getpwnam(name)
        uid, gid = entry.pw_uid, entry.pw_gid
    except KeyError:
        if not name.isdigit():
            raise ValueError(f"no such user: {name}") from None
        uid = gid = int(name)  # a dedicated uid needs no entry in /etc/passwd
    if group:
        gid = int(group)
    if uid == 0 or gid == 0:
        raise ValueError(f"the worker user must not be root: {user}")
    return Account(uid, gid)


def _namespaces_refused(runner: str) -> str | None:
    """Why bwrap cannot start a process in the workers' namespaces, or None if it can."""
    try:
        done = subprocess.run(
            [runner, *bwrap.namespace_flags(), "--ro-bind", "/", "/", "--",
             sys.executable, "-S", "-c", ""],
            capture_output=True, text=True, timeout=_PROBE_SECONDS, env={})
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if done.returncode != 0:
        return (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
    return None


def _unreachable(paths: tuple[str, ...]) -> str | None:
    """The first of ``paths`` in (or being) a directory others cannot enter."""
    for path in paths:
        directory = path if os.path.isdir(path) else os.path.dirname(path)
        while directory != "/":
            if not os.stat(directory).st_mode & stat.S_IXOTH:
                return path
            directory = os.path.dirname(directory)
    return None
