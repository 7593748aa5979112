"""The root ``tidings`` command: its options, its sub-commands in help order, and
:func:`main`, the one place user errors become messages.

User errors (anything under :class:`~tidings.errors.TidingsError`) end the command with
one red ``error: ...`` line on stderr and exit code 1; usage errors exit 2.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import typer

from tidings import __version__
from tidings.cli import demo, notify, ops, runs, server, worker
from tidings.cli.console import print_error
from tidings.errors import TidingsError

cli = typer.Typer(
    name="tidings",
    help="Durable workflows: run workers, trigger and inspect runs, migrate the database.",
    no_args_is_help=True,
    add_completion=False,
    # A bug in tidings should show a plain traceback; user errors never reach typer.
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tidings {__version__}")
        raise typer.Exit()


@cli.callback()
def _root(
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = None,
) -> None:
    """Durable workflows: run workers, trigger and inspect runs, migrate the database."""


# The order here is the order of `tidings --help`.
worker.register(cli)  # worker, dev
runs.register(cli)  # trigger, migrate; runs, schedules, events
notify.register(cli)  # notify
ops.register(cli)  # backup, restore, doctor, mcp
server.register(cli)  # serve; keys, env, config
demo.register(cli)  # demo


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``tidings`` command."""
    try:
        cli(args=list(argv) if argv is not None else None, prog_name="tidings")
    except (TidingsError, OSError) as exc:
        # The single place user errors become messages: no command repeats this.
        print_error(str(exc) or type(exc).__name__)
        raise SystemExit(1) from None
