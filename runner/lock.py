"""One process a data dir: two runners on one outbox would deliver every message twice."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

LOCK_FILE = "segfn.lock"


class DataDirBusy(RuntimeError):
    """Another process serves this data dir."""


@contextlib.contextmanager
def exclusive(data_dir: Path) -> Iterator[None]:
    """Hold the data dir for this process; ``DataDirBusy`` if another holds it.

    The kernel releases the lock when the process ends, however it ends (kill -9
    included), so a crash never leaves the data dir locked.
    """
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = data_dir / LOCK_FILE
    with open(path, "a+", encoding="utf-8") as file:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.seek(0)
            holder = file.read().strip() or "another process"
            raise DataDirBusy(f"{data_dir} is in use by {holder}; stop it, or give this "
                              "one another --data-dir") from None
        file.truncate(0)
        file.write(f"process {os.getpid()}\n")
        file.flush()
        yield
