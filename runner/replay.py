"""Replay with a diff: what captured deliveries emit through other code, compared with
what they emitted when they were received.

Messages are compared without the fields that differ on every run by design:
``messageId``, ``timestamp`` and ``context.library``. A delivery is ``same`` when its
messages and its error type (none, or the same one) are what they were; ``failed`` when
the replay ended in an error it did not end in before; ``changed`` otherwise. A shadow
deploy (runner/shadow.py) compares live deliveries so too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from segfn.sandbox.invocation import Result

IGNORED = ("messageId", "timestamp")


def normalized(message: Any) -> Any:
    """``message`` without the fields a replay ignores."""
    if not isinstance(message, dict):
        return message
    kept = {k: v for k, v in message.items() if k not in IGNORED}
    if isinstance(kept.get("context"), dict):
        kept["context"] = {k: v for k, v in kept["context"].items() if k != "library"}
    return kept


def verdict(capture: dict[str, Any], result: Result) -> dict[str, Any]:
    """How the replay of one capture (as ``captures.read_captures`` gives it) compares:
    ``{"delivery", "outcome": same|changed|failed, "before", "after", "error"}``."""
    return compare(capture["id"], capture["emitted"], capture["error"], result)


def compare(delivery: str, emitted: Iterable[Any], error: dict[str, Any] | None,
            result: Result) -> dict[str, Any]:
    """How ``result`` compares with a run of the same delivery that emitted ``emitted``
    and ended in ``error`` (a ``to_dict`` of its error, or None); as ``verdict``."""
    before = [normalized(m) for m in emitted]
    after = [normalized(m) for m in result.messages] if result.ok else []
    now = None if result.error is None else result.error.to_dict()
    if before == after and (error or {}).get("type") == (now or {}).get("type"):
        outcome = "same"
    else:
        outcome = "failed" if now is not None else "changed"
    return {"delivery": delivery, "outcome": outcome, "before": before, "after": after,
            "error": now}


def unreadable(capture: dict[str, Any]) -> dict[str, Any]:
    """The verdict on a capture whose request no key given opens: failed, saying so."""
    return {"delivery": capture["id"], "outcome": "failed",
            "before": [normalized(m) for m in capture["emitted"]], "after": [],
            "error": {"type": "NotReplayable", "message": "its request was sealed under a "
                      "secret key the service no longer has"}}


def report(verdicts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The replay's answer: counts, and a diff for each delivery that is not the same."""
    listed = list(verdicts)
    counts = {kind: sum(v["outcome"] == kind for v in listed)
              for kind in ("same", "changed", "failed")}
    return {"replayed": len(listed), **counts,
            "diffs": [{k: v[k] for k in ("delivery", "before", "after", "error")}
                      for v in listed if v["outcome"] != "same"]}
