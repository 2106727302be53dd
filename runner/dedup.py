"""Provider redeliveries: a delivery its provider named is run once, then answered.

A provider that redelivers a webhook (it timed out waiting, or redelivers on request) sends
the same delivery id again, in ``webhook-id`` (Standard Webhooks), ``X-GitHub-Delivery``,
``X-Shopify-Webhook-Id``, ``Idempotency-Key``, or a header the operator names for the
source. The invocation id is derived from (source, delivery id), so the messageIds are the
same; the answer given to the first copy is kept for ``KEEP_SECONDS`` (at most
``MAX_ANSWERS`` of them), committed with what the invocation stored, and a later copy gets
it without running. A first copy that failed keeps no answer: providers redeliver failures
on purpose, so the redelivery runs again.
"""

from __future__ import annotations

import json
import re

import attrs
import sqlalchemy as sa

from runner.db import schema, upsert
from runner.store import Db
from segfn.respond import Reply
from segfn.sandbox.invocation import HttpRequest

# In the order they are looked for, after the source's own header.
DELIVERY_HEADERS = ("webhook-id", "X-GitHub-Delivery", "X-Shopify-Webhook-Id",
                    "Idempotency-Key")
_DELIVERY_HEADERS_LOWER = frozenset(name.lower() for name in DELIVERY_HEADERS)
# A header name is a token (RFC 9110 5.1).
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# Providers redeliver for hours (Standard Webhooks: up to about a day); then a copy runs.
KEEP_SECONDS = 24 * 3600.0
# Bounded, so that a flood of distinct ids cannot fill the disk: the oldest go first.
MAX_ANSWERS = 100_000


def check_header(name: str) -> str:
    """``name``, if it is a header name; else ValueError saying why."""
    if not _HEADER_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a header name (letters, digits, '-')")
    return name


def delivery_id(request: HttpRequest, header: str | None = None) -> str | None:
    """The provider's id of this delivery, from ``header`` (the source's own) first."""
    # One look at the headers for the common case, a delivery naming none of them.
    present = {name.lower() for name, _ in request.headers}
    if present.isdisjoint(_DELIVERY_HEADERS_LOWER) and (
            header is None or header.lower() not in present):
        return None
    for name in ((header,) if header else ()) + DELIVERY_HEADERS:
        value = request.header(name)
        if value is not None and value.strip():
            return value.strip()
    return None


@attrs.frozen
class Answer:
    """The answer kept for a delivery: its status and its handshake reply, if any."""

    status: int
    reply: Reply | None = None


_ANSWERS = schema.answers
# Built once: building a statement costs more than running it, and these run for every
# delivery a provider named.
_RECALL = sa.select(_ANSWERS.c.status, _ANSWERS.c.reply).where(
    _ANSWERS.c.invocation_id == sa.bindparam("invocation_id"),
    _ANSWERS.c.at > sa.bindparam("since"))
_LAST = sa.select(sa.func.max(_ANSWERS.c.seq))
_EXPIRE = _ANSWERS.delete().where(_ANSWERS.c.at <= sa.bindparam("before"))
_BOUND = _ANSWERS.delete().where(_ANSWERS.c.seq <= sa.bindparam("seq"))
_FORGET = _ANSWERS.delete().where(_ANSWERS.c.invocation_id == sa.bindparam("invocation_id"))


def recall(db: Db, invocation_id: str, now: float) -> Answer | None:
    """The answer given to this invocation's delivery less than ``KEEP_SECONDS`` ago."""
    row = db.execute(_RECALL, {"invocation_id": invocation_id,
                               "since": now - KEEP_SECONDS}).first()
    if row is None:
        return None
    return Answer(row.status, None if row.reply is None else Reply(**json.loads(row.reply)))


def remember(db: Db, invocation_id: str, answer: Answer, now: float) -> None:
    """Keep ``answer``; drop answers older than ``KEEP_SECONDS`` and beyond ``MAX_ANSWERS``."""
    reply = None if answer.reply is None else json.dumps(answer.reply.to_dict())
    last = db.execute(_LAST).scalar() or 0
    upsert.replace(db, _ANSWERS, {"invocation_id": invocation_id, "at": now,
                                  "status": answer.status, "reply": reply, "seq": last + 1})
    db.execute(_EXPIRE, {"before": now - KEEP_SECONDS})
    db.execute(_BOUND, {"seq": last + 1 - MAX_ANSWERS})


def forget(db: Db, invocation_id: str) -> None:
    """The invocation failed in the end: a redelivery runs again."""
    db.execute(_FORGET, {"invocation_id": invocation_id})
