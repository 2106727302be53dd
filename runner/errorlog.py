"""The errors log: failed invocations with their request and logs, secrets redacted.

Each entry also keeps what it takes to run the invocation again (``segfn errors retry``):
its original request in the ``replay`` column, never shown. When redacting changed nothing,
that is the request as JSON. When it hid something (a secret header, a secret setting
value, the service's webhook token in the URL), the original is kept only sealed by the
runtime's ``Sealer``: the service's secret key encrypts it; ``segfn run`` keeps it in plain
text in its own data dir, as its retries table keeps every request it will run again.
Without a sealer (a service started with no secret key) such an entry cannot be retried:
re-running the redacted request would not be the invocation that failed.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Callable
from typing import Any, Protocol

import attrs
import sqlalchemy as sa

from runner.db import schema
from runner.store import Db
from segfn import errors
from segfn.sandbox.invocation import CUT, Failure, HttpRequest, Result
from segfn.sandbox.scope import LOG_TRUNCATED

KEEP_PER_FUNCTION = 100
KEEP_SECONDS = 30 * 24 * 3600
REDACTED = "[redacted]"

_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
_SECRET_WORDS = re.compile(r"token|secret|key|password|signature", re.IGNORECASE)


class Sealer(Protocol):
    """Keeps a JSON value unreadable at rest (the service's ``Keyring`` is one)."""

    def encrypt(self, value: Any) -> str: ...

    def decrypt(self, token: str) -> Any: ...


class PlainText:
    """The sealer of ``segfn run``: JSON as it is, in the data dir of the one who runs it."""

    def encrypt(self, value: Any) -> str:
        return json.dumps(value)

    def decrypt(self, token: str) -> Any:
        return json.loads(token)


PLAIN_TEXT = PlainText()


class NotReplayable(Exception):
    """An entry whose original request was not kept, or cannot be opened."""


def is_secret_header(name: str) -> bool:
    return name.lower() in _SECRET_HEADERS or bool(_SECRET_WORDS.search(name))


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every secret value replaced, also where it is written as ``repr()``
    or JSON write it, and the part of one that a cut at the end of ``text`` left.

    This hides what careless code shows; code that means to show a secret can always
    write it in some other form.
    """
    forms = _forms(secrets)
    for form in forms:
        text = text.replace(form, REDACTED)
    for mark in _CUT_MARKS:
        if text.endswith(mark):
            return _hide_cut_part(text[:-len(mark)], forms) + mark
    return text


# What ends an error message or an invocation's logs that were cut short.
_CUT_MARKS = (CUT, LOG_TRUNCATED)


@functools.lru_cache(maxsize=256)
def _forms(secrets: tuple[str, ...]) -> tuple[str, ...]:
    """Every form of ``secrets``, longest first; made once for a source's secrets, not
    once for each line redacted."""
    return tuple(sorted({form for secret in secrets if secret for form in _written(secret)},
                        key=len, reverse=True))


def _written(secret: str) -> set[str]:
    """``secret`` as it reads inside text that ``repr()`` or ``json.dumps`` wrote."""
    return {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1],
            # repr() escapes ' only in text holding both kinds of quote, so either way.
            _repr_inner(secret, escape_quote=True), _repr_inner(secret, escape_quote=False)}


def _repr_inner(text: str, escape_quote: bool) -> str:
    return "".join(("\\'" if escape_quote else "'") if c == "'" else
                   '"' if c == '"' else repr(c)[1:-1] for c in text)


def _hide_cut_part(text: str, forms: tuple[str, ...]) -> str:
    """``text`` whose longest ending that begins a secret's form is hidden."""
    for length in range(max(map(len, forms), default=0), 0, -1):
        if any(form.startswith(text[-length:]) for form in forms if len(form) >= length):
            return text[:-length] + REDACTED
    return text


def redacted_result(result: Result, secrets: tuple[str, ...]) -> Result:
    """``result`` with secret values hidden in its error message and logs; a handshake
    answer that shows one is refused (hiding it would answer the provider wrongly)."""
    if not secrets or (not result.logs and result.error is None and result.reply is None):
        return result  # nothing that could show one
    logs = tuple(redact(line, secrets) for line in result.logs)
    if result.reply is not None and _shows(result.reply.texts(), secrets):
        return Result.failed(errors.BAD_REQUEST, SECRET_REPLY, logs, result.duration_ms)
    error = result.error and Failure(result.error.type, redact(result.error.message, secrets),
                                     result.error.where)
    return attrs.evolve(result, error=error, logs=logs)


SECRET_REPLY = ("respond(...) would answer the value of an encrypted setting; a response "
                "never shows one (answer what the provider sent, or a signature of it)")


def _shows(texts: list[str], secrets: tuple[str, ...]) -> bool:
    return any(secret and secret in text for text in texts for secret in secrets)


def redacted_request(request: HttpRequest, secrets: tuple[str, ...]) -> dict[str, Any]:
    """The request as the errors log shows it: secret headers and setting values hidden."""
    return {
        "url": redact(request.url, secrets),
        "headers": [[k, REDACTED if is_secret_header(k) else redact(v, secrets)]
                    for k, v in request.headers],
        "body": redact(request.body.decode("utf-8", "replace"), secrets),
    }


def replay_of(request: HttpRequest, shown: dict[str, Any], sealer: Sealer | None
              ) -> str | None:
    """What the ``replay`` column keeps of ``request``, whose redacted form is ``shown``."""
    if shown == redacted_request(request, ()) and not any(
            is_secret_header(name) for name, _ in request.headers):
        return json.dumps(request.to_dict())
    return None if sealer is None else sealer.encrypt(request.to_dict())


def replayed(replay: str | None, sealer: Sealer | None) -> HttpRequest:
    """The original request of an entry; ``NotReplayable`` saying why when it is not kept."""
    if replay is None:
        raise NotReplayable(
            "its request was redacted (a secret header, setting value or webhook token) and "
            "the original was not kept: the service keeps originals only encrypted, so it "
            "must run with a secret key ($SEGFN_SECRET_KEY or --secret-key-file)")
    if replay.startswith("{"):
        return HttpRequest.from_dict(json.loads(replay))
    if sealer is None or isinstance(sealer, PlainText):
        raise NotReplayable("its request is encrypted; retry it through the service that "
                            "logged it, which has the key")
    try:
        return HttpRequest.from_dict(sealer.decrypt(replay))
    except Exception as exc:  # noqa: BLE001 - a wrong key or a damaged value: say which
        raise NotReplayable(f"its request cannot be decrypted: {exc}") from None


_ERRORS = schema.errors


def rotate_replays(db: Db, rotate: Callable[[str], str]) -> tuple[int, int]:
    """Seal every sealed original request again with ``rotate`` (a key rotation's); the
    number done, and the number no key given opens, which are left as they are."""
    done = failed = 0
    sealed_ones = db.execute(sa.select(_ERRORS.c.id, _ERRORS.c.replay).where(
        _ERRORS.c.replay.is_not(None), _ERRORS.c.replay.not_like("{%"))).all()
    for row in sealed_ones:
        try:
            sealed = rotate(row.replay)
        except Exception:  # noqa: BLE001 - a token of a key no longer given: say how many
            failed += 1
            continue
        db.execute(_ERRORS.update().where(_ERRORS.c.id == row.id).values(replay=sealed))
        done += 1
    return done, failed


def record_error(db: Db, *, source: str, function: str, invocation_id: str,
                 request: HttpRequest, result: Result, attempts: int,
                 secrets: tuple[str, ...] = (), sealer: Sealer | None = None) -> None:
    """Log a failure and keep only the newest entries of the function."""
    assert result.error is not None
    now = time.time()
    shown = redacted_request(request, secrets)
    db.execute(_ERRORS.insert().values(
        at=now, source=source, function=function, invocation_id=invocation_id,
        type=result.error.type, message=redact(result.error.located, secrets),
        request=json.dumps(shown),
        logs=json.dumps([redact(line, secrets) for line in result.logs]), attempts=attempts,
        replay=replay_of(request, shown, sealer)))
    newest = (sa.select(_ERRORS.c.id).where(_ERRORS.c.function == function)
              .order_by(_ERRORS.c.id.desc()).limit(KEEP_PER_FUNCTION))
    db.execute(_ERRORS.delete().where(
        _ERRORS.c.function == function,
        sa.or_(_ERRORS.c.at < now - KEEP_SECONDS, _ERRORS.c.id.not_in(newest.scalar_subquery()))))


def read_errors(db: Db, function: str | None = None,
                source: str | None = None, limit: int = KEEP_PER_FUNCTION
                ) -> list[dict[str, Any]]:
    """The newest errors first, within the retention window, of a function or a source."""
    query = sa.select(_ERRORS).where(_ERRORS.c.at >= time.time() - KEEP_SECONDS)
    if function is not None:
        query = query.where(_ERRORS.c.function == function)
    if source is not None:
        query = query.where(_ERRORS.c.source == source)
    rows = db.execute(query.order_by(_ERRORS.c.id.desc()).limit(limit)).mappings()
    return [{"id": r["id"], "at": r["at"], "source": r["source"], "function": r["function"],
             "invocation_id": r["invocation_id"],
             "error": {"type": r["type"], "message": r["message"]},
             "request": json.loads(r["request"]), "logs": json.loads(r["logs"]),
             "attempts": r["attempts"], "retryable": r["replay"] is not None}
            for r in rows]
