"""Confining worker processes, assuming the sandbox in them has been broken.

``plan`` decides at the runner's start what this machine allows; ``bwrap`` builds the
command that starts a worker in namespaces of its own (no files, network or processes of
the runner's); ``inside`` and ``seccomp`` are what the worker applies to itself before its
first job (an unprivileged uid, rlimits, a system-call filter). ``config`` is the worker's
first message, which says what to apply.

Linux only: namespaces, bubblewrap, seccomp and ``prctl`` are Linux's, and this package is
written and tested for Linux alone (Debian, Python 3.11). On another system expect
``plan`` to find these missing, or the runner not to start its workers at all.
"""
