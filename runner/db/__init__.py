"""The state's database: one schema (schema.py) for SQLite and PostgreSQL, engines made
from a URL or a SQLite file (engine.py), and one migration history (migrate.py,
migrations/)."""
