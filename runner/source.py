"""A deployed handler: the code and setting values one webhook runs."""

from __future__ import annotations

from typing import Any

import attrs

from segfn.sandbox.compiler import Handler
from segfn.sandbox.fleet import Tenant


@attrs.frozen
class Source:
    """What a webhook runs. ``secrets`` are setting values never to be shown or logged.

    ``write_key`` authenticates this source's messages at the Tracking API (the runner's
    own key when None); a ``paused`` source refuses deliveries until it is resumed;
    ``allow_get`` lets GET reach the handler too, for providers that verify a URL so.
    ``workspace`` and ``function`` name whose worker processes run it. ``dedup_header``
    names the header in which this source's provider sends its delivery ids, besides the
    usual ones (``runner.dedup``).
    """

    id: str
    function: str
    handler: Handler
    settings: dict[str, Any] = attrs.field(factory=dict)
    secrets: tuple[str, ...] = ()
    write_key: str | None = None
    paused: bool = False
    workspace: str = ""
    allow_get: bool = False
    dedup_header: str | None = None

    @property
    def tenant(self) -> Tenant:
        return Tenant(self.workspace, self.function)
