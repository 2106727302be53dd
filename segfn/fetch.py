"""``fetch``: HTTP requests from a handler.

The handler's worker process does not open connections itself: it hands each request to
the process that started it, which checks the address against the egress policy, performs
it and sends back the response. Time spent waiting counts against the invocation's
wall-clock limit. That process also caps each call: how many requests, how many bytes a
response, how many bytes its responses in all (``segfn.sandbox.egress``).
"""

from __future__ import annotations

import base64
import binascii
import json as jsonlib
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import attrs

from segfn.errors import FetchError
from segfn.request import Headers
from segfn.sandbox import scope

Pairs = tuple[tuple[str, str], ...]


def _pairs(headers: Iterable[Any]) -> Pairs:
    """Header pairs as a tuple of (name, value) strings."""
    pairs = tuple(tuple(pair) for pair in headers)
    if not all(len(pair) == 2 and all(isinstance(part, str) for part in pair)
               for pair in pairs):
        raise TypeError("headers are pairs of strings")
    return pairs  # type: ignore[return-value]


def _text(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str):
        raise TypeError(f"fetch {attribute.name} must be a string")


def _check_timeout(request: FetchRequest, attribute: Any, timeout: float | None) -> None:
    if timeout is None:
        return
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError("fetch timeout must be seconds")
    if math.isnan(timeout):
        raise ValueError("fetch timeout is a number of seconds")


def _body(data: Any) -> bytes:
    """A frame's base64 text as bytes; anything else is a frame of the wrong shape."""
    if type(data) is not str:
        raise TypeError("a fetch body travels as base64 text")
    try:
        return base64.b64decode(data, validate=True)
    except binascii.Error:
        raise ValueError("a fetch body is not base64") from None


def _encoded(body: bytes) -> str:
    return base64.b64encode(body).decode("ascii") if body else ""


@attrs.frozen
class FetchRequest:
    """One HTTP request a handler asks its parent to make: the parent checks it against
    the egress policy and performs it. ``timeout`` in seconds (None: the invocation's
    time left). Checked when made, on either side of the worker's pipe."""

    url: str = attrs.field(validator=_text)
    method: str = attrs.field(default="GET", validator=_text)
    headers: Pairs = attrs.field(default=(), converter=_pairs)
    body: bytes = attrs.field(default=b"", validator=attrs.validators.instance_of(bytes))
    timeout: float | None = attrs.field(default=None, validator=_check_timeout)

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "method": self.method,
                "headers": [list(pair) for pair in self.headers],
                "body": _encoded(self.body), "timeout": self.timeout}

    @classmethod
    def from_dict(cls, data: Any) -> FetchRequest:
        if type(data) is not dict or type(data["headers"]) is not list:
            raise TypeError("a fetch request is an object with a list of headers")
        if not all(type(pair) is list for pair in data["headers"]):
            raise TypeError("headers are pairs of strings")
        return cls(data["url"], data["method"], data["headers"], _body(data["body"]),
                   data["timeout"])


@attrs.frozen
class FetchAnswer:
    """The parent's answer to one ``FetchRequest``: a response (any status), or
    ``error``, why there is none (refused, unreachable, timed out, over a cap)."""

    status: int = 0
    url: str = attrs.field(default="", validator=_text)
    headers: Pairs = attrs.field(default=(), converter=_pairs)
    body: bytes = attrs.field(default=b"", validator=attrs.validators.instance_of(bytes))
    error: str | None = attrs.field(
        default=None, validator=attrs.validators.optional(_text))

    @classmethod
    def failed(cls, error: str) -> FetchAnswer:
        return cls(error=error)

    def to_dict(self) -> dict[str, Any]:
        if self.error is not None:
            return {"error": self.error}
        return {"status": self.status, "url": self.url,
                "headers": [list(pair) for pair in self.headers],
                "body": _encoded(self.body)}

    @classmethod
    def from_dict(cls, data: Any) -> FetchAnswer:
        if type(data) is not dict:
            raise TypeError("a fetch answer is an object")
        if "error" in data:
            return cls.failed(data["error"])
        if type(data["status"]) is not int:
            raise TypeError("a fetch answer's status is a number")
        return cls(data["status"], data["url"], data["headers"], _body(data["body"]))


# The parent's side: performs one call's requests within ``budget`` seconds.
Fetcher = Callable[[list[FetchRequest], float], Awaitable[list[FetchAnswer]]]
# The worker's side: sends the requests to the parent and waits for its answers.
FetchTransport = Callable[[list[FetchRequest], float], list[FetchAnswer]]


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
            timeout: float | None = None) -> FetchRequest:
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
    # FetchRequest checks the url and the timeout, here as when a worker's frame arrives.
    return FetchRequest(url, str(method).upper(), pairs, body or b"", timeout)


def _decode(answer: FetchAnswer) -> Response | FetchError:
    if answer.error is not None:
        return FetchError(answer.error)
    return Response(answer.status, answer.url, answer.headers, answer.body)


class FetchClient:
    """``fetch`` and ``fetch_all`` of one invocation: its time limit, its parent's answers."""

    __slots__ = ("_scope",)

    def __init__(self, running: scope.Scope | None) -> None:
        self._scope = running

    def _send(self, requests: list[FetchRequest]) -> list[Response | FetchError]:
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
