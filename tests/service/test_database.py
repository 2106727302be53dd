"""``segfn serve --database`` on PostgreSQL: the admin commands migrate and fill it, a node
refuses a database at another schema revision, and the state lives there, not in the
data dir."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from runner.db import engine as engines
from runner.db import migrate
from runner.events import read_events
from tests.runner.harness import SEGFN, TRACK
from tests.service.harness import Cli
from tests.stored import look


def segfn(*args: str, code: int = 0, env: dict[str, str] | None = None) -> Any:
    done = subprocess.run([*SEGFN, *args], capture_output=True, text=True, timeout=60,
                          env=env)
    assert done.returncode == code, (args, done.stdout, done.stderr)
    return done


def test_a_node_refuses_a_database_before_it_is_migrated(postgres_url: str,
                                                         tmp_path: Path) -> None:
    refused = segfn("serve", "--port", "0", "--data-dir", str(tmp_path / "node"),
                    "--insecure-workers", "--database", postgres_url, code=1)
    shown = engines.describe(postgres_url)
    [error] = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert error.startswith("error: cannot start: the database "), refused.stderr
    assert f"this segfn needs revision {migrate.head()}" in error
    assert f"segfn admin migrate --database {shown}" in error
    migrated = json.loads(segfn("admin", "migrate", "--database", postgres_url,
                                "--json").stdout)
    assert migrated == [{"database": shown, "was": None, "now": migrate.head()}]
    again = segfn("admin", "migrate", "--database", postgres_url).stdout
    assert again.strip() == f"{shown}: already at revision {migrate.head()}"


def test_the_service_keeps_its_state_in_the_database(migrated_postgres_url: str,
                                                     start_serve: Any, tmp_path: Path
                                                     ) -> None:
    url = migrated_postgres_url
    made = json.loads(segfn("admin", "create-workspace", "acme", "--database", url,
                            "--json").stdout)
    serve = start_serve("--database", url, "--rate-limit", "0", data_dir=tmp_path / "node")
    cli = Cli(tmp_path / "config")
    cli("login", serve.url, made["token"])
    code = tmp_path / "track.py"
    code.write_text(TRACK)
    cli("functions", "create", "track", "--code", code)
    source = cli.json("sources", "connect", "orders", "--function", "track")
    answer = serve.webhook(source, {"n": 1})
    assert answer.status_code == 200, answer.text
    stored = look(url, read_events)
    assert [(e["source"], e["message"]["type"]) for e in stored] == [
        (source["id"], "identify"), (source["id"], "track")]
    # The catalog is there too: the workspace the admin command made (so the first start
    # made no "default").
    names = look(url, lambda db: list(db.execute(sa.text("SELECT name FROM workspaces"))
                                      .scalars()))
    assert names == ["acme"]
    # The data dir keeps what is the node's own: no database file.
    assert not list((tmp_path / "node").glob("*.db"))


def test_admin_migrate_brings_a_data_dirs_files_to_the_schema(tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = json.loads(segfn("admin", "migrate", "--data-dir", str(data), "--json").stdout)
    assert done == [{"database": str(data / name), "was": None, "now": migrate.head()}
                    for name in ("catalog.db", "segfn.db")]
    for name in ("catalog.db", "segfn.db"):
        engine = engines.create(data / name)
        try:
            migrate.check(engine)
        finally:
            engine.dispose()
    refused = segfn("admin", "migrate", code=2)
    assert "give --data-dir DIR or --database URL" in refused.stderr


def test_a_database_that_does_not_answer_or_is_not_supported_is_an_error(
        tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = f"postgresql://segfn@127.0.0.1:{port}/segfn"
    for command in (["serve", "--port", "0", "--data-dir", str(tmp_path / "node"),
                     "--insecure-workers"], ["admin", "migrate"],
                    ["admin", "create-workspace", "acme"]):
        refused = segfn(*command, "--database", down, code=1)
        [error] = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
        assert f"the database postgresql://segfn@127.0.0.1:{port}/segfn cannot be used: " \
            in error, refused.stderr
        assert "Traceback" not in refused.stderr
    other = segfn("admin", "migrate", "--database", "mysql://u@h/db", code=2)
    assert "segfn keeps its state in SQLite" in other.stderr
