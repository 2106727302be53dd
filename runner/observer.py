"""What the runner tells whoever watches it, through one interface.

The runtime, the endpoint and the deliverer report to one ``Observer``: ``invoked`` after
every invocation (retries included), ``refused`` for every webhook refused before a
handler ran, ``delivery_failed`` for every send the Tracking API did not take,
``loop_failed`` for every failure of a background loop. Metrics count them;
``InvocationLog`` makes each invocation a record of the ``segfn.invocations`` logger, which
the CLI formats as its per-invocation line. What failed in a loop is logged by the
``segfn.runner`` logger.
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

    def refused(self, status: int) -> None:
        """A webhook delivery was refused before any handler ran (404, 413, 429, ...)."""

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

    def refused(self, status: int) -> None:
        for observer in self.observers:
            observer.refused(status)

    def delivery_failed(self, reason: str) -> None:
        for observer in self.observers:
            observer.delivery_failed(reason)

    def loop_failed(self, loop: str) -> None:
        for observer in self.observers:
            observer.loop_failed(loop)


class InvocationLog(Observer):
    """Each invocation as an INFO record of ``segfn.invocations``, with the ``source`` and
    ``outcome`` as attributes of the record for a formatter that wants more than text."""

    def invoked(self, source: Source, outcome: Outcome) -> None:
        result = outcome.result
        invocations.info(
            "%s %s %s %.1f ms", source.id, outcome.status,
            result.error.type if result.error else "ok", result.duration_ms,
            extra={"source": source, "outcome": outcome})
