"""What every ``segfn`` command shares, applied once to the whole tree of commands.

- ``--color/--no-color`` on every command (on a terminal by default, unless NO_COLOR is set);
- every error on stderr starts ``error: `` (click's own usage errors too, followed by the
  command's --help to read);
- the top-level help lists the subcommands of each group as well.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import click

from segfn.cli.output import fail

COLOR_HELP = "Color the output [default: on a terminal, unless NO_COLOR is set]."


def _set_color(ctx: click.Context, param: click.Parameter, value: bool | None) -> None:
    if value is None and os.environ.get("NO_COLOR"):
        value = False
    if value is not None:
        # click.echo and click.style consult the context for every line they write; the
        # root's, for the error Segfn.invoke shows once the command's context is gone.
        ctx.color = ctx.find_root().color = value


def color_option() -> click.Option:
    return click.Option(["--color/--no-color"], default=None, expose_value=False,
                        callback=_set_color, help=COLOR_HELP)


def _leaves(command: click.Command) -> Iterator[click.Command]:
    """The commands that print: every command, and a group that runs alone too (``segfn
    errors``, ``segfn dead-letters``, which list)."""
    if isinstance(command, click.Group):
        if command.invoke_without_command:
            yield command
        for child in command.commands.values():
            yield from _leaves(child)
    else:
        yield command


def give_every_command_color(group: click.Group) -> None:
    """Add --color/--no-color to each command that does not declare it itself."""
    for command in _leaves(group):
        if not any("--color" in getattr(param, "opts", ()) for param in command.params):
            command.params.append(color_option())


def show_error(exc: click.ClickException) -> None:
    fail(exc.format_message())
    if isinstance(exc, click.UsageError) and exc.ctx is not None:
        click.echo(f"  (see {exc.ctx.command_path} --help)", err=True)


class Segfn(click.Group):
    """The top-level group: uniform errors, and a help that lists every subcommand."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            # Not standalone: click then leaves errors to us, and returns exit codes.
            code = super().main(args, prog_name, complete_var, False, **extra)
        except click.ClickException as exc:
            show_error(exc)
            sys.exit(exc.exit_code)
        except click.Abort:
            fail("aborted")
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:
            # Here, where --color still holds; an error before a command runs (in the
            # group's own options) is shown by main.
            show_error(exc)
            raise click.exceptions.Exit(exc.exit_code) from None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows: list[tuple[str, click.Command]] = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is None or command.hidden:
                continue
            rows.append((name, command))
            if isinstance(command, click.Group):
                rows += [(f"{name} {sub}", child) for sub, child in command.commands.items()
                         if not child.hidden]
        width = max(len(name) for name, _ in rows)
        limit = formatter.width - 6 - width
        with formatter.section("Commands"):
            formatter.write_dl([(name, command.get_short_help_str(limit))
                                for name, command in rows])
