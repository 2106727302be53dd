"""A deployed handler: the code and setting values one webhook runs."""

from __future__ import annotations

from typing import Any

import attrs

from runner.captures import MAX_DAYS
from runner.shadow import Shadow
from segfn.sandbox.compiler import Handler
from segfn.sandbox.fleet import Tenant
from segfn.settings import SETTINGS_OPTION


@attrs.frozen
class Names:
    """The names of a source, its function and its workspace, as their owners gave them."""

    workspace: str
    function: str
    source: str


@attrs.frozen
class Source:
    """What a webhook runs. ``secrets`` are setting values never to be shown or logged.

    ``write_key`` authenticates this source's messages at the Tracking API (the runner's
    own key when None); a ``paused`` source refuses deliveries until it is resumed;
    ``allow_get`` lets GET reach the handler too, for providers that verify a URL so;
    ``capture_days`` above 0 keeps each delivery that long, for replay (runner/captures.py).
    ``workspace`` and ``function`` name whose worker processes run it;
    ``settings_given_in`` where its setting values are given, for a missing one's message.
    ``names`` are what people read in logs and metrics: the ids' names, each the id itself
    when not given. ``dedup_header`` names the header in which this source's provider
    sends its delivery ids, besides the usual ones (``runner.dedup``). ``shadow`` is the
    version its live deliveries also run, compared and discarded (``runner.shadow``).
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
    capture_days: int = attrs.field(default=0, validator=[attrs.validators.ge(0),
                                                          attrs.validators.le(MAX_DAYS)])
    settings_given_in: str = SETTINGS_OPTION
    names: Names = attrs.field(default=attrs.Factory(
        lambda self: Names(self.workspace, self.function, self.id), takes_self=True))
    dedup_header: str | None = None
    shadow: Shadow | None = None

    @property
    def tenant(self) -> Tenant:
        return Tenant(self.workspace, self.function)

    @property
    def shadow_tenant(self) -> Tenant:
        return Tenant(self.workspace, self.function, shadow=True)
