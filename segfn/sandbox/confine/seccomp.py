"""The worker's system-call filter, through libseccomp (ctypes, no compiler needed).

Everything a breached worker could use to reach past its process is refused with EPERM:
starting programs or processes, sockets, tracing or reading other processes, mounts and
namespaces, and the kernel interfaces that have carried privilege escalations (bpf, keyrings,
perf, io_uring, userfaultfd). Threads stay possible: ``clone`` is allowed only with
CLONE_THREAD, and ``clone3``, whose flags a filter cannot read, answers ENOSYS so that glibc
falls back to ``clone``. The filter covers every thread (TSYNC) and system calls of any
other ABI (i386, x32) kill the process, libseccomp's default.
"""

from __future__ import annotations

import ctypes
import errno

LIBRARY = "libseccomp.so.2"

_ACT_ALLOW = 0x7FFF0000
_ACT_ERRNO = 0x00050000
_ATTR_TSYNC = 4
_CMP_MASKED_EQ = 7
_CLONE_THREAD = 0x00010000

REFUSED = (
    "execve", "execveat", "fork", "vfork",
    "socket", "socketpair",
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    "mount", "umount", "umount2", "mount_setattr", "move_mount", "open_tree", "fsopen",
    "fsconfig", "fsmount", "fspick", "pivot_root", "chroot",
    "unshare", "setns",
    "bpf", "keyctl", "add_key", "request_key", "perf_event_open", "userfaultfd",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "name_to_handle_at", "open_by_handle_at",
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
)


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]


class SeccompError(OSError):
    """libseccomp is missing or refused the filter."""


def _errno_action(code: int) -> int:
    return _ACT_ERRNO | code


def _library() -> ctypes.CDLL:
    try:
        lib = ctypes.CDLL(LIBRARY, use_errno=True)
    except OSError as exc:
        raise SeccompError(f"{LIBRARY} cannot be loaded: {exc}") from None
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                           ctypes.c_uint, ctypes.POINTER(_ArgCmp)]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    return lib


def available() -> str | None:
    """Why this machine cannot filter system calls, or None when it can."""
    try:
        _library()
    except SeccompError as exc:
        return str(exc)
    with open("/proc/self/status") as status:
        if not any(line.startswith("Seccomp:") for line in status):
            return "the kernel has no seccomp (CONFIG_SECCOMP)"
    return None


def install() -> None:
    """Load the filter into this process, every thread of it; it cannot be lifted."""
    lib = _library()
    ctx = lib.seccomp_init(_ACT_ALLOW)
    if not ctx:
        raise SeccompError("seccomp_init failed")
    try:
        _check(lib.seccomp_attr_set(ctx, _ATTR_TSYNC, 1), "TSYNC")
        for name in REFUSED:
            _rule(lib, ctx, _errno_action(errno.EPERM), name)
        _rule(lib, ctx, _errno_action(errno.ENOSYS), "clone3")
        # clone without CLONE_THREAD is a new process: (flags & CLONE_THREAD) == 0.
        new_process = _ArgCmp(0, _CMP_MASKED_EQ, _CLONE_THREAD, 0)
        _rule(lib, ctx, _errno_action(errno.EPERM), "clone", new_process)
        _check(lib.seccomp_load(ctx), "seccomp_load")
    finally:
        lib.seccomp_release(ctx)


def _rule(lib: ctypes.CDLL, ctx: int, action: int, name: str, *conditions: _ArgCmp) -> None:
    number = lib.seccomp_syscall_resolve_name(name.encode())
    if number < 0:
        return  # not a system call of this architecture (fork on arm64, say)
    array = (_ArgCmp * len(conditions))(*conditions) if conditions else None
    _check(lib.seccomp_rule_add_array(ctx, action, number, len(conditions), array), name)


def _check(code: int, what: str) -> None:
    if code < 0:
        raise SeccompError(-code, f"seccomp: {what}: {errno.errorcode.get(-code, -code)}")
