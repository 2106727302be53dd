"""What the runner tells whoever watches it, through one interface.

The runtime, the endpoint and the deliverer report to one ``Observer``: ``invoked`` after
every invocation (retries included), ``refused`` for every webhook refused before a
handler ran, ``delivery_failed`` for every send the Tracking API did not take,
``loop_failed`` for every failure of a background loop. Metrics count them
(runner.metrics); the CLI prints each invocation and each refusal as a line
(segfn.cli.output.InvocationLines). What failed in a loop is logged by the
``segfn.runner`` logger.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runner.runtime import Outcome
    from runner.source import Source


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

