"""``fetch``: HTTP requests from a handler.

The handler's worker process does not open connections itself: it hands each request to
the process that started it, which checks the address against the egress policy, performs
it and sends back the response. Time spent waiting counts against the invocation's
wall-clock limit. That process also caps each call: how many requests, how many bytes a
response, how many bytes its responses in all (``segfn.sandbox.egress``).
"""

from __future__ import annotations

import base64
import json as jsonlib
from collections.abc import Iterable, Mapping
from typing import Any

from segfn.errors import FetchError
from segfn.request import Headers
from segfn.sandbox import scope


class Response:
    """What ``fetch`` returns: ``status``, ``ok``, ``headers``, ``text()``, ``json()``,
    ``content``."""

    __slots__ = ("status", "url", "headers", "content")

    def __init__(self, status: int, url: str, headers: Iterable[tuple[str, str]],
                 content: bytes) -> None:
        self.status = status
        self.url = url
        self.headers = Headers(headers)
        self.content = content

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return jsonlib.loads(self.content)

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.url}>"


def _encode(url: str, method: str = "GET", headers: Mapping[str, str] | None = None,
            body: str | bytes | None = None, json: Any = None,
            timeout: float | None = None) -> dict[str, Any]:
    if not isinstance(url, str):
        raise TypeError("fetch url must be a string")
    if body is not None and json is not None:
        raise ValueError("fetch takes body= or json=, not both")
    pairs = [(str(k), str(v)) for k, v in dict(headers or {}).items()]
    if json is not None:
        body = jsonlib.dumps(json)
        if not any(k.lower() == "content-type" for k, _ in pairs):
            pairs.append(("content-type", "application/json"))
    if isinstance(body, str):
        body = body.encode("utf-8")
    if body is not None and not isinstance(body, bytes):
        raise TypeError("fetch body must be str or bytes")
    return {
        "url": url,
        "method": str(method).upper(),
        "headers": pairs,
        "body": base64.b64encode(body).decode("ascii") if body else "",
        "timeout": timeout,
    }


def _decode(answer: dict[str, Any]) -> Response | FetchError:
    if "error" in answer:
        return FetchError(answer["error"])
    return Response(answer["status"], answer["url"], [tuple(h) for h in answer["headers"]],
                    base64.b64decode(answer["body"]))


class FetchClient:
    """``fetch`` and ``fetch_all`` of one invocation: its time limit, its parent's answers."""

    __slots__ = ("_scope",)

    def __init__(self, running: scope.Scope | None) -> None:
        self._scope = running

    def _send(self, requests: list[dict[str, Any]]) -> list[Response | FetchError]:
        running = scope.live(self._scope)
        if running.fetch_transport is None:
            raise FetchError("fetch is not available here")
        if running.remaining() <= 0:
            raise FetchError("no time left in this invocation for fetch")
        return [_decode(a) for a in running.fetch_transport(requests, running.remaining())]

    def fetch(self, url: str, method: str = "GET", headers: Mapping[str, str] | None = None,
              body: str | bytes | None = None, json: Any = None,
              timeout: float | None = None) -> Response:
        """Make one HTTP request; a non-2xx status is a response, a network failure
        FetchError."""
        (answer,) = self._send([_encode(url, method, headers, body, json, timeout)])
        if isinstance(answer, FetchError):
            raise answer
        return answer

    def fetch_all(self, requests: Iterable[Mapping[str, Any]],
                  return_exceptions: bool = False) -> list[Response | FetchError]:
        """Make several requests concurrently; each is a dict of ``fetch``'s arguments.

        Responses come back in the order asked. A failure raises its ``FetchError`` unless
        ``return_exceptions`` is true, in which case it takes that request's place in the
        list. Responses read after the call's total of response bytes is reached are
        failures.
        """
        answers = self._send([_encode(**dict(r)) for r in requests])
        if not return_exceptions:
            for answer in answers:
                if isinstance(answer, FetchError):
                    raise answer
        return answers


# Outside the sandbox; each invocation's namespace has a ``FetchClient`` of its own.
_outside = FetchClient(None)
fetch = _outside.fetch
fetch_all = _outside.fetch_all
