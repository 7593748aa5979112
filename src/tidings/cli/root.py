"""The root ``tidings`` command: its options, its sub-commands in help order, and
:func:`main`, the one place user errors become messages.

User errors (anything under :class:`~tidings.errors.TidingsError`) end the command with
one red ``error: ...`` line on stderr and exit code 1; usage errors exit 2.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Sequence
from typing import Annotated

import typer

from tidings import __version__
from tidings.cli import demo, notify, ops, recipients, runs, server, worker
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
recipients.register(cli)  # recipients export, erase, erasures
ops.register(cli)  # backup, restore, doctor, mcp
server.register(cli)  # serve; keys, env, config
demo.register(cli)  # demo


def unwrap(text: str) -> str:
    """Help text with each paragraph on one line: the terminal wraps it, not the source
    (a docstring's line breaks would otherwise cut sentences in ``tidings --help``)."""
    paragraphs = re.split(r"\n\s*\n", inspect.cleandoc(text))
    return "\n\n".join(" ".join(p.split()) for p in paragraphs)


def _unwrap_help(app: typer.Typer) -> None:
    for command in app.registered_commands:
        doc = command.help or (command.callback.__doc__ if command.callback else None)
        if doc:
            command.help = unwrap(doc)
    for group in app.registered_groups:
        if group.typer_instance is not None:
            info = group.typer_instance.info
            if isinstance(info.help, str):
                info.help = unwrap(info.help)
            _unwrap_help(group.typer_instance)


_unwrap_help(cli)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``tidings`` command."""
    try:
        cli(args=list(argv) if argv is not None else None, prog_name="tidings")
    except (TidingsError, OSError) as exc:
        # The single place user errors become messages: no command repeats this.
        print_error(str(exc) or type(exc).__name__)
        raise SystemExit(1) from None
