"""Reading the files commands are given, with errors that name the option and the file;
writing the private ones they make."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click


def read_text(path: str | Path, option: str) -> str:
    """A UTF-8 text file given to ``option``; a usage error if it cannot be read."""
    try:
        return Path(path).read_text("utf-8")
    except OSError as exc:
        raise click.BadParameter(f"{path}: {exc.strerror}", param_hint=option) from None
    except UnicodeDecodeError:
        raise click.BadParameter(f"{path}: not UTF-8 text", param_hint=option) from None


def read_json(path: str | Path, option: str) -> Any:
    """A JSON file given to ``option``; a usage error if it cannot be read or parsed."""
    try:
        return json.loads(read_text(path, option))
    except ValueError as exc:
        raise click.BadParameter(f"{path}: not valid JSON: {exc}", param_hint=option) from None


def read_settings(path: str | Path, option: str = "--settings") -> dict[str, Any]:
    """A settings file: one JSON object of setting values."""
    settings = read_json(path, option)
    if not isinstance(settings, dict):
        raise click.BadParameter(f"{path}: expected a JSON object", param_hint=option)
    return settings


def write_private(path: Path, text: str) -> None:
    """Write ``path`` readable by its owner only (0600) from its first byte, replacing it
    whole: a reader sees the old file or the new one, never a part."""
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)
    # os.open's mode is filtered by the umask, and an old file may have had another one.
    os.chmod(partial, 0o600)
    os.replace(partial, path)
