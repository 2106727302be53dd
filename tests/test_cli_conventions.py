"""What every ``segfn`` command shares: --color/--no-color, --json, help on every option,
errors that start ``error: ``, a top-level help that names every command; and the small
promises of ``events``, ``errors`` and ``admin generate-key``."""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from runner.events import save_result
from runner.store import DATABASE_FILE, Db
from segfn.cli import main, output
from segfn.sandbox.invocation import Result as Invocation
from tests.stored import change

ANSI = re.compile(r"\x1b\[[0-9;]*m")
# They print a log while they serve, not a result: --json would have nothing to say.
SERVERS = {"run", "serve"}


def commands(group: click.Group = main, path: str = "") -> Iterator[tuple[str, click.Command]]:
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from commands(command, f"{path}{name} ")
        else:
            yield f"{path}{name}", command


def options(command: click.Command) -> dict[str, click.Option]:
    return {param.opts[0]: param for param in command.params
            if isinstance(param, click.Option)}


def segfn(*args: str, **env: str) -> Result:
    # No login but what a test gives: never the caller's.
    clean = {"SEGFN_URL": None, "SEGFN_TOKEN": None, "NO_COLOR": None,
             "SEGFN_CONFIG_DIR": env.pop("SEGFN_CONFIG_DIR", "/nonexistent-segfn-config")}
    return CliRunner(env={**clean, **env}).invoke(main, list(args), prog_name="segfn",
                                                 catch_exceptions=False)


def stored(data_dir: Path, *events: str) -> Path:
    """A runner data dir whose store holds a track call of each event."""
    data_dir.mkdir()

    def save(db: Db) -> None:
        for number, event in enumerate(events):
            save_result(db, "default", f"inv-{number}", Invocation(messages=[{
                "type": "track", "event": event, "userId": "u1",
                "messageId": f"m{number}"}]), outbox=False)

    change(data_dir / DATABASE_FILE, save)
    return data_dir


@pytest.mark.parametrize(("name", "command"), list(commands()))
def test_every_command_takes_color_and_every_option_has_help(
        name: str, command: click.Command) -> None:
    declared = options(command)
    assert "--color" in declared and declared["--color"].secondary_opts == ["--no-color"]
    assert [option for option, param in declared.items() if not param.help] == []
    if name not in SERVERS:
        assert "--json" in declared


def test_the_top_level_help_names_every_command_and_subcommand() -> None:
    shown = segfn("--help").output
    for name, _ in commands():
        assert re.search(rf"^  {re.escape(name)}\s", shown, re.M), name


@pytest.mark.parametrize("args", [
    ("invoke",),                                   # a missing argument
    ("invoke", "/nonexistent/handler.py"),         # a bad argument
    ("new", "x", "--template", "nope"),            # a bad option value
    ("deploy", "x.py", "--nope"),                  # an unknown option
    ("events", "--data-dir", "/nonexistent"),      # the command's own refusal
    ("functions", "list"),                         # not logged in
    ("nope",),                                     # no such command
])
def test_every_error_starts_the_same_way(args: tuple[str, ...]) -> None:
    done = segfn(*args)
    assert done.exit_code in (1, 2)
    assert done.stdout == ""
    assert done.stderr.startswith("error: "), done.stderr
    assert "Usage:" not in done.stderr and "Error:" not in done.stderr


def test_a_usage_error_says_where_help_is() -> None:
    assert "(see segfn new --help)" in segfn("new", "x", "--template", "nope").stderr


def test_color_and_no_color_and_no_color_env(tmp_path: Path) -> None:
    data_dir = str(stored(tmp_path / "data", "Colored"))
    assert not ANSI.search(segfn("events", "--data-dir", data_dir).stdout)
    colored = segfn("events", "--data-dir", data_dir, "--color", NO_COLOR="1").stdout
    assert ANSI.search(colored) and "Colored" in ANSI.sub("", colored)
    assert not ANSI.search(segfn("events", "--data-dir", data_dir, "--no-color").stdout)
    # An error is colored too when asked.
    assert ANSI.search(segfn("errors", "--data-dir", "/nonexistent", "--color").stderr)


def test_events_and_errors_with_nothing_stored_say_so(tmp_path: Path) -> None:
    data_dir = str(stored(tmp_path / "data"))
    assert segfn("events", "--data-dir", data_dir).stdout == "no events\n"
    assert segfn("errors", "--data-dir", data_dir).stdout == "no errors\n"
    assert json.loads(segfn("events", "--data-dir", data_dir, "--json").stdout)["events"] == []


def test_events_while_logged_in_say_they_are_the_local_ones(tmp_path: Path) -> None:
    data_dir = str(stored(tmp_path / "data", "Local"))
    login = {"SEGFN_URL": "http://127.0.0.1:9", "SEGFN_TOKEN": "sfn_x"}
    done = segfn("events", "--data-dir", data_dir, **login)
    assert "Local" in done.stdout
    assert done.stderr == (f"events of segfn run in {data_dir}, not of http://127.0.0.1:9 "
                           "(give --source NAME for a source's)\n")
    assert segfn("events", "--data-dir", data_dir).stderr == ""
    # --json stays one document on stdout, with nothing on stderr.
    quiet = segfn("events", "--data-dir", data_dir, "--json", **login)
    assert quiet.stderr == "" and json.loads(quiet.stdout)["events"]
    missing = segfn("events", "--data-dir", str(tmp_path / "none"), **login)
    assert "--source NAME" in missing.stderr


def test_generate_key_output_is_private_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    path.write_text("old")
    path.chmod(0o644)
    previous = os.umask(0)
    try:
        done = segfn("admin", "generate-key", "--output", str(path))
    finally:
        os.umask(previous)
    assert done.exit_code == 0, done.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = path.read_text().strip()
    assert len(key) == 44 and key not in done.stdout
    assert f"--secret-key-file {path}" in done.stdout
    assert [p.name for p in tmp_path.iterdir()] == ["secret.key"]
    printed = json.loads(segfn("admin", "generate-key", "--json").stdout)
    assert len(printed["key"]) == 44 and printed["file"] is None


def test_logout_and_admin_commands_print_json(tmp_path: Path) -> None:
    config = str(tmp_path / "config")
    assert json.loads(segfn("logout", "--json", SEGFN_CONFIG_DIR=config).stdout) == {
        "removed": None}
    created = json.loads(segfn("admin", "create-workspace", "acme", "--data-dir",
                               str(tmp_path / "serve"), "--json").stdout)
    assert created["name"] == "acme" and created["token"].startswith("sfn_")


@pytest.mark.parametrize(("text", "shown"), [
    ("plain text, ünïcödé and \u00a0", "plain text, ünïcödé and \u00a0"),
    ("a\tb", "a\tb"),
    ("red \x1b[31m", "red \\x1b[31m"),
    ("line\nbreak\x85\x7f", "line\\nbreak\\x85\\x7f"),
])
def test_printable_escapes_control_characters_only(text: str, shown: str) -> None:
    assert output.printable(text) == shown
