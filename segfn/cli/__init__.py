"""The ``segfn`` command line."""

from __future__ import annotations

import click

from segfn.cli.admin import admin
from segfn.cli.conventions import Segfn, give_every_command_color
from segfn.cli.deploy import deploy, rollback, test_command
from segfn.cli.events import dead_letters_command, errors_command, events_command
from segfn.cli.functions import functions
from segfn.cli.invoke import invoke
from segfn.cli.login import login, logout
from segfn.cli.new import new
from segfn.cli.redrive import resend_command, retry_command
from segfn.cli.replay import deliveries_command, replay_command
from segfn.cli.run import run
from segfn.cli.serve import serve
from segfn.cli.shadow import shadow_command
from segfn.cli.sources import sources
from segfn.cli.tokens import tokens
from segfn.version import VERSION


@click.group(cls=Segfn, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(VERSION, prog_name="segfn")
def main() -> None:
    """Segment Source Functions in Python: write, test and run webhook handlers, and
    drive a segfn serve service."""


errors_command.add_command(retry_command)
dead_letters_command.add_command(resend_command)
main.add_command(invoke)
main.add_command(run)
main.add_command(events_command)
main.add_command(errors_command)
main.add_command(dead_letters_command)
main.add_command(deliveries_command)
main.add_command(replay_command)
main.add_command(shadow_command)
main.add_command(new)
main.add_command(serve)
main.add_command(admin)
main.add_command(login)
main.add_command(logout)
main.add_command(functions)
main.add_command(sources)
main.add_command(deploy)
main.add_command(rollback)
main.add_command(test_command)
main.add_command(tokens)
give_every_command_color(main)
