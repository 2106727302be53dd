"""Alembic's environment: migrations run on the connection runner.db.migrate hands over
(in its transaction, holding its lock), never from an alembic.ini."""

from __future__ import annotations

from alembic import context

from runner.db.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
