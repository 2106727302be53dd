"""Capture URLs: a temporary webhook whose next POST becomes a test request.

The console's "Auto-fill via webhook" asks for one (``POST /api/v1/captures``), shows its
URL, and reads it back (``GET /api/v1/captures/{id}``) until the provider has posted to it.
The first POST is kept, in the payload-file format the tester takes; later ones are refused.
Captures live in memory only, each for ``TTL`` seconds, at most ``MAX_CAPTURES`` at once: a
service restart forgets them, which costs nothing but asking for a new URL.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import attrs

from runner.service.catalog import new_id
from runner.service.problems import Conflict, NotFound, Problem
from runner.service.records import iso

CAPTURE_PREFIX = "/capture/"
TTL = 15 * 60
MAX_CAPTURES = 256
# Headers that describe the connection, not the delivery; a test request has no use for them.
_CONNECTION_HEADERS = frozenset({"host", "content-length", "connection", "keep-alive",
                                 "transfer-encoding", "te", "upgrade", "expect"})


class TooManyCaptures(Problem):
    status = 429
    type = "TooManyCaptures"


@attrs.define
class Capture:
    """One capture URL of a token, and the delivery it caught (None until then)."""

    id: str
    workspace: str
    token_id: str
    secret: str
    expires_at: float
    payload: dict[str, Any] | None = None


def delivery_payload(body: bytes, headers: list[tuple[str, str]],
                     query: str) -> dict[str, Any]:
    """A delivery as a payload document: a JSON body as its value, any other as text."""
    text = body.decode("utf-8", errors="replace")
    try:
        value: Any = json.loads(text) if text.strip() else None
    except ValueError:
        value = text
    grouped: dict[str, list[str]] = {}
    for name, header in headers:
        if name.lower() not in _CONNECTION_HEADERS:
            grouped.setdefault(name, []).append(header)
    payload: dict[str, Any] = {"body": value, "headers": grouped}
    if query:
        payload["url"] = f"https://example.com/?{query}"
    return payload


class Captures:
    """The live captures of the service, by id and by the secret in their URL."""

    def __init__(self, public_url: str) -> None:
        self.public_url = public_url
        self._by_id: dict[str, Capture] = {}

    def _expire(self, now: float) -> None:
        for capture in [c for c in self._by_id.values() if c.expires_at <= now]:
            del self._by_id[capture.id]

    def create(self, workspace: str, token_id: str) -> dict[str, Any]:
        now = time.time()
        self._expire(now)
        if len(self._by_id) >= MAX_CAPTURES:
            raise TooManyCaptures(f"{MAX_CAPTURES} capture URLs are open; try again once "
                                  f"one has expired (each lasts {TTL // 60} minutes)")
        capture = Capture(new_id("cap"), workspace, token_id, secrets.token_urlsafe(24),
                          now + TTL)
        self._by_id[capture.id] = capture
        return self.view(capture)

    def get(self, workspace: str, token_id: str, capture_id: str) -> dict[str, Any]:
        """A capture of this token; another token's, or an expired one, is not found."""
        self._expire(time.time())
        capture = self._by_id.get(capture_id)
        if capture is None or (capture.workspace, capture.token_id) != (workspace, token_id):
            raise NotFound(f"no capture {capture_id!r} (they last {TTL // 60} minutes)")
        return self.view(capture)

    def catch(self, secret: str, payload: dict[str, Any]) -> None:
        """Keep ``payload`` as the delivery of the capture whose URL has ``secret``."""
        self._expire(time.time())
        capture = next((c for c in self._by_id.values()
                        if secrets.compare_digest(c.secret, secret)), None)
        if capture is None:
            raise NotFound("no such capture URL (it may have expired)")
        if capture.payload is not None:
            raise Conflict("this capture URL has already caught a delivery")
        capture.payload = payload

    def view(self, capture: Capture) -> dict[str, Any]:
        return {"id": capture.id, "url": f"{self.public_url}{CAPTURE_PREFIX}{capture.secret}",
                "expires_at": iso(capture.expires_at), "payload": capture.payload}
