"""The errors log: failed invocations with their request and logs, secrets redacted."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from typing import Any

import attrs

from segfn.sandbox.invocation import Failure, HttpRequest, Result

KEEP_PER_FUNCTION = 100
KEEP_SECONDS = 30 * 24 * 3600
REDACTED = "[redacted]"

_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
_SECRET_WORDS = re.compile(r"token|secret|key|password|signature", re.IGNORECASE)


def is_secret_header(name: str) -> bool:
    return name.lower() in _SECRET_HEADERS or bool(_SECRET_WORDS.search(name))


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every secret value replaced."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def redacted_result(result: Result, secrets: tuple[str, ...]) -> Result:
    """``result`` with secret values hidden in its error message and logs."""
    if not secrets:
        return result
    error = result.error and Failure(result.error.type, redact(result.error.message, secrets),
                                     result.error.where)
    return attrs.evolve(result, error=error,
                        logs=tuple(redact(line, secrets) for line in result.logs))


def redacted_request(request: HttpRequest, secrets: tuple[str, ...]) -> dict[str, Any]:
    """The request as the errors log shows it: secret headers and setting values hidden."""
    return {
        "url": redact(request.url, secrets),
        "headers": [[k, REDACTED if is_secret_header(k) else redact(v, secrets)]
                    for k, v in request.headers],
        "body": redact(request.body.decode("utf-8", "replace"), secrets),
    }


def record_error(db: sqlite3.Connection, *, source: str, function: str, invocation_id: str,
                 request: HttpRequest, result: Result, attempts: int,
                 secrets: tuple[str, ...] = ()) -> None:
    """Log a failure and keep only the newest entries of the function."""
    assert result.error is not None
    now = time.time()
    db.execute(
        "INSERT INTO errors (at, source, function, invocation_id, type, message, request, "
        "logs, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (now, source, function, invocation_id, result.error.type,
         redact(result.error.located, secrets),
         json.dumps(redacted_request(request, secrets)),
         json.dumps([redact(line, secrets) for line in result.logs]), attempts))
    db.execute("DELETE FROM errors WHERE function = ? AND (at < ? OR id NOT IN "
               "(SELECT id FROM errors WHERE function = ? ORDER BY id DESC LIMIT ?))",
               (function, now - KEEP_SECONDS, function, KEEP_PER_FUNCTION))


def read_errors(db: sqlite3.Connection, function: str | None = None,
                source: str | None = None, limit: int = KEEP_PER_FUNCTION
                ) -> list[dict[str, Any]]:
    """The newest errors first, within the retention window, of a function or a source."""
    where = "WHERE at >= ?"
    args: list[Any] = [time.time() - KEEP_SECONDS]
    for column, value in (("function", function), ("source", source)):
        if value is not None:
            where += f" AND {column} = ?"
            args.append(value)
    rows = db.execute(f"SELECT * FROM errors {where} ORDER BY id DESC LIMIT ?",
                      (*args, limit)).fetchall()
    return [{"at": r["at"], "source": r["source"], "function": r["function"],
             "invocation_id": r["invocation_id"],
             "error": {"type": r["type"], "message": r["message"]},
             "request": json.loads(r["request"]), "logs": json.loads(r["logs"]),
             "attempts": r["attempts"]} for r in rows]
