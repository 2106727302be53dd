"""The ``segfn`` command line."""

from __future__ import annotations

import click

from segfn.cli.invoke import invoke
from segfn.version import VERSION


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(VERSION, prog_name="segfn")
def main() -> None:
    """Segment Source Functions in Python: write, test and run webhook handlers."""


main.add_command(invoke)
