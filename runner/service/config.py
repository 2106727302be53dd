"""The service's configuration: a runner's, and what only the service has."""

from __future__ import annotations

import attrs

from runner.config import RunnerConfig
from runner.service.keyring import Keyring


@attrs.frozen
class ServiceConfig:
    """``public_url`` is the base of every webhook URL (no trailing slash); ``keyring``
    encrypts secret settings (None: none may be stored); ``default_write_key`` says
    whether a source without a write key of its own can deliver (the service has one,
    or events go to the embedded store)."""

    runner: RunnerConfig
    public_url: str = attrs.field(converter=lambda url: url.rstrip("/"))
    keyring: Keyring | None = None
    default_write_key: bool = True
