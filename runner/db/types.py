"""The column types every table and every migration uses, on SQLite and PostgreSQL.

They are facts of the storage format, so migrations may share them: a migration that
needs another type declares its own, and these never change.
"""

from __future__ import annotations

import sqlalchemy as sa

# A row id: SQLite's INTEGER PRIMARY KEY (its rowid; the tables say AUTOINCREMENT, so
# never reused), a BIGSERIAL on PostgreSQL.
RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# A Unix time or a duration: a double on PostgreSQL, SQLite's REAL (as files always had).
Seconds: sa.types.TypeEngine[float] = sa.Double().with_variant(sa.REAL(), "sqlite")
