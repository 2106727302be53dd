"""The ``segfn`` command line."""

from __future__ import annotations

import click

from segfn.cli.events import errors_command, events_command
from segfn.cli.invoke import invoke
from segfn.cli.new import new
from segfn.cli.run import run
from segfn.version import VERSION


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(VERSION, prog_name="segfn")
def main() -> None:
    """Segment Source Functions in Python: write, test and run webhook handlers."""


main.add_command(invoke)
main.add_command(run)
main.add_command(events_command)
main.add_command(errors_command)
main.add_command(new)
