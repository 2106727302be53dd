"""Requests per second per source, as a token bucket."""

from __future__ import annotations

import math
import time


class RateLimiter:
    """Allows ``rate`` requests a second per key, with bursts of up to ``rate``."""

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = max(1.0, rate)
        self._buckets: dict[str, tuple[float, float]] = {}

    def acquire(self, key: str, now: float | None = None) -> float:
        """Take a token for ``key``: 0 if allowed, else seconds until one is free."""
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.get(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.rate)
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1 - tokens) / self.rate


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
