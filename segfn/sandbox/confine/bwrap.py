"""The command that starts a worker under bubblewrap, and what of the machine it sees.

The worker gets namespaces of its own (mount, network, pid, ipc, uts; a user namespace too
when the runner is not root) and a root file system that is an empty, read-only tmpfs
holding, read-only: the system libraries, the Python installation (``sys.base_prefix``,
``sys.prefix``), the site-packages on ``sys.path``, and the packages the worker imports that
live elsewhere (an editable install's ``segfn`` directory, never the checkout around it,
which holds data dirs). Its /proc is that of its own pid namespace, where only bwrap's init
(pid 1) is with it; its /dev the minimal one bwrap makes; nothing of it is writable.

The worker is not pid 1 (no ``--as-pid-1``) for its death: once it has dropped to its own
user, bwrap, which runs as root without capabilities, may not signal it, so
``--die-with-parent`` no longer reaches it; the kernel kills every process of a pid
namespace when its init dies, whatever their user.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import signal
import sys
from collections.abc import Iterable, Mapping, Sequence

import attrs

NAMESPACES = ("--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
              "--unshare-cgroup-try", "--die-with-parent", "--new-session")
# As root bwrap keeps every capability for the command. The worker needs these three to
# empty its bounding set and become its unprivileged user, after which it has none.
ROOT_CAPABILITIES = ("CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP")
SYSTEM_LIBRARIES = ("/lib", "/lib64", "/usr/lib", "/usr/lib64")
_SITE_DIRS = ("site-packages", "dist-packages")
_BOOT = ("import sys; sys.path += sys.argv[1:]; del sys.argv[1:]; "
         "from segfn.sandbox.worker import main; main()")


@attrs.frozen
class Layout:
    """The paths a worker sees (read-only, at the same place) and its extra module path."""

    binds: tuple[str, ...]
    python_path: tuple[str, ...]

    def python(self) -> list[str]:
        """The worker's command line. Isolated (``-I``: no ``PYTHONPATH``, no user site, no
        current directory) and with the extra module path after the standard library's and
        site-packages: a directory that holds a package the worker needs (a checkout, the
        folder of an operator's module) may hold a ``types.py`` or ``json.py`` too."""
        return [sys.executable, "-B", "-I", "-c", _BOOT, *self.python_path]


def namespace_flags() -> list[str]:
    """The namespaces; a runner that is not root needs a user namespace to make them."""
    return [*NAMESPACES, *(() if os.geteuid() == 0 else ("--unshare-user",))]


def layout(modules: Iterable[str]) -> Layout:
    """What a worker importing ``segfn`` and the operator's ``modules`` needs to see."""
    search = [os.path.abspath(entry) for entry in sys.path]
    prefixes = {sys.base_prefix, sys.prefix, sys.base_exec_prefix, sys.exec_prefix}
    sites = [entry for entry in search
             if os.path.basename(entry) in _SITE_DIRS and os.path.isdir(entry)]
    binds = {*prefixes, *sites, os.path.realpath(sys.executable)}
    python_path = [site for site in sites if not _within(site, prefixes)]
    for name in sorted({"segfn", *(module.split(".")[0] for module in modules)}):
        for location in _locations(name):
            if _within(location, binds):
                continue
            binds.add(location)
            entry = os.path.dirname(location)
            if entry in search and entry not in python_path:
                python_path.append(entry)
    return Layout(tuple(sorted(_outermost(binds))), tuple(python_path))


def command(bwrap: str, layout: Layout, argv: Sequence[str], environment: Mapping[str, str]
            ) -> list[str]:
    """bwrap's command line for ``argv``."""
    line = [bwrap, *namespace_flags()]
    if os.geteuid() == 0:
        line += ["--cap-drop", "ALL"]
        for capability in ROOT_CAPABILITIES:
            line += ["--cap-add", capability]
    line += ["--perms", "0755", "--tmpfs", "/"]
    made = {"/"}
    for path in SYSTEM_LIBRARIES:
        if os.path.islink(path):
            line += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            line += _bind(path, made)
    for path in layout.binds:
        line += _bind(path, made)
    line += ["--proc", "/proc", "--dev", "/dev", "--remount-ro", "/", "--chdir", "/",
             "--clearenv"]
    for name, value in environment.items():
        line += ["--setenv", name, value]
    return [*line, "--", *argv]


def worker_pid(bwrap_pid: int) -> int | None:
    """The worker's pid as the runner sees it: bwrap forks its init in the new pid
    namespace, which forks the worker; read once the worker has said it is ready."""
    below = descendants(bwrap_pid)
    return below[-1] if len(below) == 2 else None


def descendants(bwrap_pid: int) -> list[int]:
    """bwrap's init and the worker below it, as far as they exist yet."""
    found: list[int] = []
    pid = bwrap_pid
    while len(found) < 2:
        child = _first_child(pid)
        if child is None:
            break
        found.append(child)
        pid = child
    return found


def kill(process: asyncio.subprocess.Process) -> None:
    """SIGKILL a worker and, under bwrap, its init and the worker inside first: an init
    killed before it had set up dying with bwrap would keep the worker, and with it the
    pipes ``wait()`` waits on, alive."""
    for pid in reversed(descendants(process.pid)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        process.kill()


def _first_child(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            found = children.read().split()
    except OSError:
        return None
    return int(found[0]) if found else None


def _bind(path: str, made: set[str]) -> list[str]:
    """A read-only bind of ``path``; its parents, which bwrap would make 0700, are 0755."""
    line: list[str] = []
    parents = []
    parent = os.path.dirname(path)
    while parent not in made:
        parents.append(parent)
        parent = os.path.dirname(parent)
    for directory in reversed(parents):
        line += ["--perms", "0755", "--dir", directory]
        made.add(directory)
    made.add(path)
    return [*line, "--ro-bind", path, path]


def _locations(name: str) -> list[str]:
    """Where top-level module ``name`` is: a package's directories or a module's file."""
    spec = importlib.util.find_spec(name)
    if spec is None:
        return []  # the worker's own import reports it
    if spec.submodule_search_locations is not None:
        return [os.path.abspath(p) for p in spec.submodule_search_locations]
    return [os.path.abspath(spec.origin)] if spec.has_location and spec.origin else []


def _within(path: str, roots: Iterable[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


def _outermost(paths: Iterable[str]) -> set[str]:
    """``paths`` without those inside another of them."""
    ordered = sorted(set(paths))
    return {p for p in ordered if not _within(p, [q for q in ordered if q != p])}
