"""The values that describe one invocation and its result, as they cross process lines."""

from __future__ import annotations

import base64
import hashlib
import math
import os
import threading
from collections.abc import Sequence
from typing import Any

import attrs

from segfn import errors
from segfn.respond import Reply
from segfn.sandbox.compiler import Handler
from segfn.settings import SETTINGS_OPTION

# An error message is one line for a person: longer ones are cut to this many characters.
MAX_ERROR_CHARS = 2048
# Ends a text that was cut (runner.errorlog hides a secret the cut left a part of).
CUT = " [cut]"


def cut(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """``text``, cut to at most ``limit`` characters and marked if it was."""
    if len(text) <= limit:
        return text
    return text[:max(limit - len(CUT), 0)] + CUT


# Random bytes for invocation ids, read from the system 4 KiB at a time: a read a request
# was a system call (and a release of the GIL) on the runner's busiest path.
_RANDOM_CHUNK = 4096
_random = bytearray()
_random_lock = threading.Lock()
# A forked child must not draw the ids its parent will.
os.register_at_fork(after_in_child=_random.clear)


def new_invocation_id() -> str:
    """A random version-4 UUID's 32 hex digits, as ``uuid.uuid4().hex``."""
    with _random_lock:
        if not _random:
            _random.extend(os.urandom(_RANDOM_CHUNK))
        drawn = _random[-16:]
        del _random[-16:]
    # As uuid.UUID(bytes=drawn, version=4) sets them: the version, then the variant.
    drawn[6] = drawn[6] & 0x0F | 0x40
    drawn[8] = drawn[8] & 0x3F | 0x80
    return drawn.hex()


def delivery_invocation_id(source: str, delivery: str) -> str:
    """The invocation id of a delivery its provider named ``delivery``: the same for every
    redelivery to ``source``, so its messageIds are too; 32 hex digits, like a new one."""
    named = hashlib.sha256(f"{source}\0{delivery}".encode("utf-8", "surrogatepass"))
    return named.hexdigest()[:32]


# A webhook takes POST; a source may also take GET, for providers that verify a URL so.
METHODS = ("POST", "GET")


@attrs.frozen
class HttpRequest:
    """A webhook delivery as received: exact body bytes, headers in order, full URL."""

    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=lambda h: tuple(
        (str(k), str(v)) for k, v in (h.items() if hasattr(h, "items") else h)))
    url: str = "http://localhost/"
    method: str = attrs.field(default="POST", validator=attrs.validators.in_(METHODS))

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return ", ".join(values) if values else None

    def to_dict(self) -> dict[str, Any]:
        return {"body": base64.b64encode(self.body).decode("ascii"),
                "headers": [list(h) for h in self.headers], "url": self.url,
                "method": self.method}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HttpRequest:
        # Requests stored before GET was taken have no method: they were POSTs.
        return cls(base64.b64decode(data["body"]), [tuple(h) for h in data["headers"]],
                   data["url"], data.get("method", "POST"))


@attrs.frozen
class Job:
    """What a worker runs: a handler with its settings on one request.

    Nothing in it says where anything is stored: the parent answers the job's cache calls
    from the store of the source it runs for (``WorkerPool.invoke``'s ``cache``).
    """

    handler: Handler
    request: HttpRequest
    settings: dict[str, Any] = attrs.field(factory=dict)
    invocation_id: str = attrs.field(factory=new_invocation_id)
    alphabetize: bool = False
    # Where the setting values come from, named when the handler reads one that is missing.
    settings_given_in: str = SETTINGS_OPTION

    def to_dict(self, source: bool = True) -> dict[str, Any]:
        """The job as a frame carries it; without ``source``, its handler is named by its
        key alone (for a worker that keeps it: ``protocol.Kept``)."""
        data = {"filename": self.handler.filename,
                "key": self.handler.key, "request": self.request.to_dict(),
                "settings": self.settings, "invocation_id": self.invocation_id,
                "alphabetize": self.alphabetize,
                "settings_given_in": self.settings_given_in}
        if source:
            data["source"] = self.handler.source
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], handler: Handler | None = None) -> Job:
        """The job ``to_dict`` gave; ``handler`` is the one its key names, when the data
        has no source."""
        if handler is None:
            handler = Handler(data["source"], data["filename"], data["key"])
        return cls(handler, HttpRequest.from_dict(data["request"]), data["settings"],
                   data["invocation_id"], data["alphabetize"], data["settings_given_in"])


def _listed(value: Any) -> list[Any]:
    # Not list(): it would make a string a list of its characters.
    if type(value) not in (list, tuple):
        raise TypeError(f"expected a list, got {type(value).__name__}")
    return list(value)


def _cut_text(value: Any) -> Any:
    return cut(value) if type(value) is str else value


def _exact(kind: type) -> Any:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if type(value) is not kind:
            raise TypeError(f"{attribute.name} must be a {kind.__name__}")
    return check


def _each(check: Any) -> Any:
    def each(instance: Any, attribute: attrs.Attribute[Any], values: list[Any]) -> None:
        for value in values:
            check(value)
    return each


def _message(value: Any) -> None:
    if type(value) is not dict or type(value.get("type")) is not str:
        raise TypeError("a message must be an object with a type")


def _object(value: Any) -> None:
    if (type(value) is not dict or type(value.get("collection")) is not str
            or type(value.get("id")) is not str or type(value.get("properties")) is not dict):
        raise TypeError("an object must have a collection, an id and properties")


def _line(value: Any) -> None:
    if type(value) is not str:
        raise TypeError("a log line must be text")


def _duration(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if type(value) not in (int, float) or not math.isfinite(value) or value < 0:
        raise ValueError("duration_ms must be a number of milliseconds")


@attrs.frozen
class Failure:
    """Why an invocation did not succeed: a contract error type, a message (cut to
    ``MAX_ERROR_CHARS``) and where in the handler it happened (``FILE:LINE``, "" when
    nowhere in particular).

    The webhook's answer carries the type and the message, never ``where``: the line of a
    handler is for its author (``located``), not for whoever sends it deliveries.
    """

    type: str = attrs.field(validator=attrs.validators.in_(errors.ERROR_TYPES))
    message: str = attrs.field(converter=_cut_text, validator=_exact(str))
    where: str = attrs.field(default="", converter=_cut_text, validator=_exact(str))

    @property
    def located(self) -> str:
        """The message as the handler's author reads it: ``FILE:LINE: message``."""
        return f"{self.where}: {self.message}" if self.where else self.message

    def answer(self) -> dict[str, str]:
        """The error as the webhook answers it."""
        return {"type": self.type, "message": self.message}

    def to_dict(self) -> dict[str, str]:
        return {"type": self.type, "message": self.message, "where": self.where}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Failure:
        if type(data) is not dict:
            raise TypeError("an error must be an object")
        return cls(data["type"], data["message"], data.get("where", ""))


def timed_out(seconds: float) -> str:
    """The message of an invocation that ran past its limit of ``seconds``."""
    return f"the function ran past its time limit of {seconds:g} s"


def _reply(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and type(value) is not Reply:
        raise TypeError("reply must be a Reply")
    if value is not None and (instance.messages or instance.objects or instance.error):
        raise ValueError("an invocation that answers a handshake emits nothing and succeeds")


@attrs.frozen
class Result:
    """What one invocation produced. Messages and objects are empty unless it succeeded;
    ``reply`` is the answer to a verification handshake, when the handler returned one."""

    messages: list[dict[str, Any]] = attrs.field(factory=list, converter=_listed,
                                                 validator=_each(_message))
    objects: list[dict[str, Any]] = attrs.field(factory=list, converter=_listed,
                                                validator=_each(_object))
    logs: list[str] = attrs.field(factory=list, converter=_listed, validator=_each(_line))
    error: Failure | None = attrs.field(default=None)
    duration_ms: float = attrs.field(default=0.0, validator=_duration)
    reply: Reply | None = attrs.field(default=None, validator=_reply)

    @error.validator
    def _emits_nothing_if_failed(self, attribute: attrs.Attribute[Any],
                                 value: Failure | None) -> None:
        if value is not None and type(value) is not Failure:
            raise TypeError("error must be a Failure")
        if value is not None and (self.messages or self.objects):
            raise ValueError("a failed invocation emits nothing")

    @property
    def ok(self) -> bool:
        return self.error is None

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        """The emitted messages of one type (``"track"``, ``"identify"``, ...), in order."""
        return [m for m in self.messages if m["type"] == kind]

    @property
    def tracks(self) -> list[dict[str, Any]]:
        return self.of_type("track")

    @property
    def identifies(self) -> list[dict[str, Any]]:
        return self.of_type("identify")

    @property
    def groups(self) -> list[dict[str, Any]]:
        return self.of_type("group")

    @property
    def pages(self) -> list[dict[str, Any]]:
        return self.of_type("page")

    @property
    def screens(self) -> list[dict[str, Any]]:
        return self.of_type("screen")

    @property
    def aliases(self) -> list[dict[str, Any]]:
        return self.of_type("alias")

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "messages": list(self.messages), "objects": list(self.objects),
                "logs": list(self.logs),
                "error": self.error.to_dict() if self.error else None,
                "duration_ms": round(self.duration_ms, 3),
                "reply": self.reply.to_dict() if self.reply else None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Result:
        """The result ``to_dict`` gave, from a worker or a service: every field's type is
        checked, so a malformed one raises (TypeError, ValueError or KeyError)."""
        if type(data) is not dict:
            raise TypeError("a result must be an object")
        error, reply = data["error"], data.get("reply")
        return cls(data["messages"], data["objects"], data["logs"],
                   None if error is None else Failure.from_dict(error), data["duration_ms"],
                   None if reply is None else Reply.from_dict(reply))

    @classmethod
    def failed(cls, type: str, message: str, logs: Sequence[str] = (),
               duration_ms: float = 0.0) -> Result:
        return cls(logs=logs, error=Failure(type, message), duration_ms=duration_ms)


LOG_PREVIEW_BYTES = 4096


def preview_logs(logs: Sequence[str], limit: int = LOG_PREVIEW_BYTES) -> tuple[list[str], bool]:
    """The first lines of ``logs`` that fit in ``limit`` bytes (the tester shows the first
    4 KiB), and whether any were left out."""
    shown: list[str] = []
    size = 0
    for line in logs:
        size += len(line.encode("utf-8", "replace"))
        if size > limit:
            return shown, True
        shown.append(line)
    return shown, False
