"""A small disk that tests can fill and free: a 2 MiB tmpfs, where this machine lets us mount."""

from __future__ import annotations

import errno
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

SIZE = "2m"
_CHUNK = b"\0" * 4096


class SmallDisk:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._ballast = path / "ballast"

    def fill(self) -> None:
        """Take every free byte, as a neighbour's log file would."""
        with open(self._ballast, "ab", buffering=0) as ballast:
            try:
                while True:
                    ballast.write(_CHUNK)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
        for size in (512, 64, 1):  # the tail of the last page too
            with open(self._ballast, "ab", buffering=0) as ballast:
                try:
                    while True:
                        ballast.write(b"\0" * size)
                except OSError:
                    pass

    def free(self) -> None:
        self._ballast.unlink(missing_ok=True)


@contextmanager
def small_disk(path: Path, size: str = SIZE) -> Iterator[SmallDisk]:
    """A tmpfs of ``size`` at ``path``; the test is skipped, saying why, if none can be
    mounted here."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        reason = f"cannot mount a tmpfs here: {mounted.stderr.strip() or mounted.returncode}"
        print(reason)
        pytest.skip(reason)
    try:
        yield SmallDisk(path)
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)
