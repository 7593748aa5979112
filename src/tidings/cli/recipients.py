"""``tidings recipients``: export and erase everything held about one recipient."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from tidings.cli.console import err, print_json
from tidings.cli.options import AppOpt, DbOpt, EnvOpt, load

recipients_cli = typer.Typer(
    help="Export or erase everything held about one recipient (privacy requests).",
    no_args_is_help=True,
)
IdArg = Annotated[str, typer.Argument(metavar="ID", help="The recipient id.", show_default=False)]


def register(cli: typer.Typer) -> None:
    cli.add_typer(recipients_cli, name="recipients")


@recipients_cli.command("export")
def export(
    recipient_id: IdArg,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write the JSON to this file (created private, 0600).",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    app_ref: AppOpt = None,
    database_url: DbOpt = None,
    env: EnvOpt = None,
) -> None:
    """Everything tidings holds about the recipient, as JSON (stdout, or --output FILE):
    profile, tokens, preferences, topics, inbox, notifications, deliveries, outbox,
    broadcasts and the runs, events and schedules that name them."""
    app = load(app_ref, database_url, env)
    data = app.recipients.export(recipient_id)
    if output is None:
        print_json(data)
        return
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    # personal data: readable by its owner only, and never a half-written file
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    err.print(f"exported recipient {recipient_id!r} to {output}", soft_wrap=True)


@recipients_cli.command("erase")
def erase(
    recipient_id: IdArg,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    app_ref: AppOpt = None,
    database_url: DbOpt = None,
    env: EnvOpt = None,
) -> None:
    """Remove or anonymise everything held about the recipient, and record the erasure
    (when, who, rows per table). It cannot be undone: export first if you need a copy.
    Prints the audit record as JSON."""
    app = load(app_ref, database_url, env)
    if not yes and not typer.confirm(
        f"erase everything held about recipient {recipient_id!r}? This cannot be undone"
    ):
        raise typer.Exit(1)
    erasure = app.recipients.erase(recipient_id, actor="cli")
    print_json(erasure.to_json())


@recipients_cli.command("erasures")
def erasures(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 100,
    app_ref: AppOpt = None,
    database_url: DbOpt = None,
    env: EnvOpt = None,
) -> None:
    """The audit of erasures, newest first, as JSON (no personal data)."""
    app = load(app_ref, database_url, env)
    print_json([e.to_json() for e in app.recipients.erasures(limit)])
