"""Shadow deploys: live deliveries to a source also run another version of its function,
whose output is compared with the live version's (as a replay compares: runner/replay.py)
and then discarded.

A shadow starts once its live delivery is settled, so the live answer never waits for it;
it runs in workers of its own (``Tenant.shadow``), so live deliveries never queue behind
one, and with a cache of its own, so what live code reads is never changed by it. Its
fetches are made as the live version's are. A node runs at most ``RUNNING_AT_ONCE``
shadows at once: a delivery arriving past that, or one whose shadow could not run (its
sandbox unavailable), is counted ``skipped``. A delivery's first attempt is shadowed, its
retries are not.

The counts are kept by source and version, and the newest ``KEEP_DIFFS`` diffs of each
source (those that were not ``same``); starting a shadow forgets the source's earlier ones.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import attrs
import sqlalchemy as sa

from runner.db import schema, upsert
from runner.store import Db
from segfn.sandbox.compiler import Handler

RUNNING_AT_ONCE = 8
KEEP_DIFFS = 50
OUTCOMES = ("same", "changed", "failed", "skipped")

_TOTALS = schema.shadow_totals
_DIFFS = schema.shadow_diffs


@attrs.frozen
class Shadow:
    """The version a source's live deliveries also run, ready to run."""

    version: int = attrs.field(validator=attrs.validators.ge(1))
    handler: Handler


def count(db: Db, *, source: str, version: int, outcome: str, now: float) -> None:
    """Count one shadowed delivery of ``source`` as ``outcome``; the first of a version
    says ``since``."""
    if outcome not in OUTCOMES:
        raise ValueError(f"no shadow outcome {outcome!r}")
    db.execute(_counting(db.dialect.name, outcome),
               {"source": source, "version": version, "since": now, outcome: 1})


@functools.cache
def _counting(dialect: str, outcome: str) -> Any:
    """The INSERT that adds one to a count (built once per dialect and outcome)."""
    statement = upsert.dialect_insert(dialect)(_TOTALS)
    return statement.on_conflict_do_update(
        index_elements=["source", "version"],
        set_={outcome: _TOTALS.c[outcome] + statement.excluded[outcome]})


def skipped(delivery: str) -> dict[str, Any]:
    """The verdict on a delivery whose shadow did not run."""
    return {"delivery": delivery, "outcome": "skipped", "before": [], "after": [],
            "error": None}


def record(db: Db, *, source: str, version: int, verdict: dict[str, Any],
           now: float) -> None:
    """Keep how one delivery compared (a ``runner.replay.compare`` verdict, or
    ``skipped``): counted, and kept as a diff unless it was the same."""
    count(db, source=source, version=version, outcome=verdict["outcome"], now=now)
    if verdict["outcome"] in ("same", "skipped"):
        return
    db.execute(_DIFFS.insert().values(
        at=now, source=source, version=version, delivery=verdict["delivery"],
        before=json.dumps(verdict["before"], ensure_ascii=False),
        after=json.dumps(verdict["after"], ensure_ascii=False),
        error=None if verdict["error"] is None else json.dumps(verdict["error"])))
    oldest_kept = (sa.select(_DIFFS.c.id).where(_DIFFS.c.source == source)
                   .order_by(_DIFFS.c.id.desc()).offset(KEEP_DIFFS - 1).limit(1)
                   .scalar_subquery())
    db.execute(_DIFFS.delete().where(_DIFFS.c.source == source, _DIFFS.c.id < oldest_kept))


def forget(db: Db, source: str) -> None:
    """Drop the counts and diffs of every shadow ``source`` had."""
    db.execute(_TOTALS.delete().where(_TOTALS.c.source == source))
    db.execute(_DIFFS.delete().where(_DIFFS.c.source == source))


def nothing() -> dict[str, Any]:
    """What ``read`` says of a source with no shadow."""
    return {"version": None, "since": None, "compared": 0,
            **{outcome: 0 for outcome in OUTCOMES}, "diffs": []}


def read(db: Db, *, source: str, version: int) -> dict[str, Any]:
    """How ``source``'s deliveries compared under shadow ``version``: the counts, when the
    first was counted (None: none yet) and the diffs kept, newest first."""
    row = db.execute(sa.select(_TOTALS).where(_TOTALS.c.source == source,
                                              _TOTALS.c.version == version)).first()
    counts = {outcome: 0 if row is None else getattr(row, outcome) for outcome in OUTCOMES}
    diffs = db.execute(sa.select(_DIFFS).where(_DIFFS.c.source == source,
                                               _DIFFS.c.version == version)
                       .order_by(_DIFFS.c.id.desc()))
    return {"version": version, "since": None if row is None else row.since,
            "compared": sum(counts[o] for o in OUTCOMES if o != "skipped"), **counts,
            "diffs": [{"delivery": d.delivery, "at": d.at, "before": json.loads(d.before),
                       "after": json.loads(d.after),
                       "error": None if d.error is None else json.loads(d.error)}
                      for d in diffs]}

