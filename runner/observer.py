"""What the runner tells whoever watches it, through one interface.

The runtime, the endpoint and the deliverer report to one ``Observer``: ``invoked`` after
every invocation (retries included), ``refused`` for every webhook refused before a
handler ran, ``delivery_failed`` for every send the Tracking API did not take,
``loop_failed`` for every failure of a background loop. Metrics count them;
``InvocationLog`` makes each invocation and each refusal a record of the
``segfn.invocations`` logger, which the CLI formats as its per-invocation line. What failed
in a loop is logged by the ``segfn.runner`` logger.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runner.runtime import Outcome
    from runner.source import Source

invocations = logging.getLogger("segfn.invocations")


class Observer:
    """Hears what the runner did; each method does nothing unless a subclass says so.

    Methods are called on the event loop, inline: they must be quick and must not raise.
    """

    def invoked(self, source: Source, outcome: Outcome) -> None:
        """An invocation of ``source`` ended (and its outcome is stored)."""

    def refused(self, status: int, error_type: str, message: str) -> None:
        """A webhook delivery was refused before any handler ran (404, 413, 429, ...),
        answered with ``error_type`` and ``message``."""

    def delivery_failed(self, reason: str) -> None:
        """A batch was not taken: ``"status 503"``, ``"status 400"``, ``"network"``."""

    def loop_failed(self, loop: str) -> None:
        """A background loop (``"delivery"``, ``"retries"``, ...) failed once; it goes on."""


class Observers(Observer):
    """Several observers heard as one, in order."""

    def __init__(self, observers: Iterable[Observer]) -> None:
        self.observers = tuple(observers)

    def invoked(self, source: Source, outcome: Outcome) -> None:
        for observer in self.observers:
            observer.invoked(source, outcome)

    def refused(self, status: int, error_type: str, message: str) -> None:
        for observer in self.observers:
            observer.refused(status, error_type, message)

    def delivery_failed(self, reason: str) -> None:
        for observer in self.observers:
            observer.delivery_failed(reason)

    def loop_failed(self, loop: str) -> None:
        for observer in self.observers:
            observer.loop_failed(loop)


class InvocationLog(Observer):
    """Each invocation as an INFO record of ``segfn.invocations``, with the ``source`` and
    ``outcome`` as attributes of the record for a formatter that wants more than text;
    each refusal as one with its ``status``, ``error_type`` and ``reason`` (and no
    ``outcome``)."""

    def invoked(self, source: Source, outcome: Outcome) -> None:
        result = outcome.result
        _record("%s %s %s %.1f ms", (source.id, outcome.status,
                                     result.error.type if result.error else "ok",
                                     result.duration_ms),
                {"source": source, "outcome": outcome})

    def refused(self, status: int, error_type: str, message: str) -> None:
        _record("%s %s  %s", (status, error_type, message),
                {"status": status, "error_type": error_type, "reason": message})


def _record(message: str, args: tuple[object, ...], extra: dict[str, object]) -> None:
    """``invocations.info(message, *args, extra=extra)`` without looking up the caller's
    file and line (the stack walk was most of a record's cost, once a request)."""
    if invocations.isEnabledFor(logging.INFO):
        invocations.handle(invocations.makeRecord(invocations.name, logging.INFO, __file__, 0,
                                                  message, args, None, extra=extra))
