"""A worker's configuration: the first frame its parent sends, before any job."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

# The whole environment of a worker: nothing of the runner's (no SEGFN_*, keys or tokens).
# MALLOC_ARENA_MAX bounds the address space glibc reserves (see worker._limit_memory).
ENVIRONMENT: Mapping[str, str] = {"MALLOC_ARENA_MAX": "2", "LANG": "C.UTF-8"}


def _modules(value: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    return {name: tuple(names) for name, names in value.items()}


@attrs.frozen
class Account:
    """The unprivileged user a worker started as root becomes."""

    uid: int = attrs.field(validator=attrs.validators.gt(0))
    gid: int = attrs.field(validator=attrs.validators.gt(0))


@attrs.frozen
class WorkerConfig:
    """Limits, modules and the confinement a worker applies to itself before its first job.

    ``account`` is None when the worker keeps its user (the runner is not root, or the
    interpreter is out of reach of any other); ``nproc`` is None when the worker shares its
    uid with the runner's other processes, whose number it cannot know.
    """

    timeout: float
    memory_mb: int
    modules: dict[str, tuple[str, ...]] = attrs.field(converter=_modules)
    account: Account | None = None
    seccomp: bool = False
    nproc: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self, value_serializer=lambda _i, _a, v: list(v)
                            if isinstance(v, tuple) else v)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WorkerConfig:
        account = data.get("account")
        return cls(float(data["timeout"]), int(data["memory_mb"]), data["modules"],
                   Account(**account) if account else None, bool(data["seccomp"]),
                   data.get("nproc"))
