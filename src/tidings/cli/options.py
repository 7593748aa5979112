"""Options shared by the commands of ``tidings``, and loading the app they name."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from tidings.app import Tidings

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
DashboardEnvsOpt = Annotated[
    str | None,
    typer.Option(
        "--dashboard-envs",
        help="Other environments whose dashboards to serve at /dashboard/<name>/, comma-"
        "separated; preview-* for every preview ($TIDINGS_DASHBOARD_ENVS, tidings.toml).",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def load(app_ref: str | None, database_url: str | None, env: str | None) -> Tidings:
    """The app the flags, ``TIDINGS_*`` and ``tidings.toml`` name (see tidings.loader)."""
    from tidings.loader import load_app  # imports the user's app: only when a command runs

    return load_app(app_ref, database_url=database_url, environment=env)
