"""Options shared by the commands of ``tidings`` (cli.py and cli_ops.py)."""

from __future__ import annotations

from typing import Annotated

import typer

AppOpt = Annotated[
    str | None,
    typer.Option(
        "--app",
        help="The app as module:attribute. Default: $TIDINGS_APP, else app in ./tidings.toml.",
        show_default=False,
    ),
]
DbOpt = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="Database to use instead of the app's ($TIDINGS_DATABASE_URL).",
        show_default=False,
    ),
]
EnvOpt = Annotated[
    str | None,
    typer.Option(
        "--env", help="Environment to use instead of the app's ($TIDINGS_ENV).", show_default=False
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
