"""``tidings serve``, ``keys``, ``env`` and ``config``: the HTTP API and environments.

The uvicorn servers themselves are in :mod:`tidings.server.serve`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from tidings.cli.console import configure_logging, err, out, print_error, print_json
from tidings.cli.options import DashboardEnvsOpt, load
from tidings.cli.render import format_time
from tidings.errors import ConfigError, UnknownApiKeyError
from tidings.keys import SCOPES, create_key
from tidings.server.serve import close_server, make_server
from tidings.settings import (
    check_config,
    check_name,
    configured_environments,
    default_database_url,
    environment_settings,
    is_preview,
    provider_table,
    read_toml,
    sandboxed,
)
from tidings.store import redact_url

keys_cli = typer.Typer(
    help="Create, list and revoke API keys of an environment.", no_args_is_help=True
)
env_cli = typer.Typer(help="List, create and delete environments.", no_args_is_help=True)
config_cli = typer.Typer(help="Check tidings.toml and TIDINGS_* settings.", no_args_is_help=True)

AppOpt = Annotated[
    str | None,
    typer.Option(
        "--app",
        help="The app as module:attribute ($TIDINGS_APP, tidings.toml).",
        show_default=False,
    ),
]
DbOpt = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="Database instead of the environment's ($TIDINGS_DATABASE_URL).",
        show_default=False,
    ),
]
EnvOpt = Annotated[
    str | None,
    typer.Option("--env", help="Environment ($TIDINGS_ENV; default dev).", show_default=False),
]
HostOpt = Annotated[str, typer.Option("--host", help="Address to listen on.")]
PortOpt = Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to listen on.")]


def register(cli: typer.Typer) -> None:
    cli.command()(serve)
    cli.add_typer(keys_cli, name="keys")
    cli.add_typer(env_cli, name="env")
    cli.add_typer(config_cli, name="config")


# -- serve -----------------------------------------------------------------------------
def serve(
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8000,
    app_ref: AppOpt = None,
    database_url: DbOpt = None,
    env: EnvOpt = None,
    dashboard_envs: DashboardEnvsOpt = None,
) -> None:
    """Serve the HTTP API (no worker: run `tidings worker` beside it)."""
    configure_logging(err)
    app = load(app_ref, database_url, env)
    app.store.pending_migrations()  # a bad database fails here, not on the first request
    server = make_server(app, host, port, own_signals=True, dashboard_envs=dashboard_envs)
    where = redact_url(app.database_url)
    out.print(
        f"tidings serve · http://{host}:{port} · dashboard http://{host}:{port}/dashboard"
        f" · {where} · env {app.environment}"
    )
    dashboards = getattr(getattr(server.config.app, "state", None), "dashboards", None)
    others = dashboards.served()[1:] if dashboards is not None else []
    if others:
        out.print(f"other environments' dashboards: {', '.join(others)}", soft_wrap=True)
    try:
        server.run()
    finally:
        close_server(server)


# -- keys ------------------------------------------------------------------------------
ScopeOpt = Annotated[str, typer.Option("--scope", help=f"One of {', '.join(SCOPES)}.")]


@keys_cli.command("create")
def keys_create(
    name: Annotated[str, typer.Option("--name", help="What the key is for.")] = "default",
    scope: ScopeOpt = "admin",
    app_ref: AppOpt = None,
    database_url: DbOpt = None,
    env: EnvOpt = None,
) -> None:
    """Create a key and print it once: it is stored only as a hash."""
    app = load(app_ref, database_url, env)
    check_name(app.environment)
    new = create_key(app.store, app.environment, name=name, scope=scope, now=app.clock.now())
    typer.echo(new.secret)
    err.print(
        f"{new.record.scope} key {new.record.id} for environment {app.environment}: "
        "shown once, store it now",
        soft_wrap=True,
    )


@keys_cli.command("list")
def keys_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    app_ref: AppOpt = None,
    database_url: DbOpt = None,
    env: EnvOpt = None,
) -> None:
    """List the environment's keys (never the keys themselves: only their first characters)."""
    app = load(app_ref, database_url, env)
    keys = app.store.keys.of_environment(app.environment)
    if as_json:
        print_json(
            [
                {
                    "id": k.id,
                    "name": k.name,
                    "scope": k.scope,
                    "hint": k.hint,
                    "created_at": k.created_at.isoformat(),
                    "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
                }
                for k in keys
            ]
        )
        return
    table = Table(header_style="bold", box=box.SIMPLE_HEAD, title=f"API keys of {app.environment}")
    for column in ("id", "name", "scope", "starts with", "created", "revoked"):
        table.add_column(column, no_wrap=True)
    for k in keys:
        table.add_row(
            k.id,
            k.name,
            k.scope,
            k.hint + "…",
            format_time(k.created_at),
            format_time(k.revoked_at),
        )
    if not keys:
        table.caption = "no keys: create one with `tidings keys create`"
    out.print(table)


@keys_cli.command("revoke")
def keys_revoke(
    key: Annotated[
        str, typer.Argument(metavar="KEY_ID", help="The key's id (key_...) or its hint.")
    ],
    app_ref: AppOpt = None,
    database_url: DbOpt = None,
    env: EnvOpt = None,
) -> None:
    """Revoke a key: requests with it are refused from now on."""
    app = load(app_ref, database_url, env)
    if not app.store.keys.revoke(app.environment, key.rstrip("…"), app.clock.now()):
        raise UnknownApiKeyError(
            f"no live key {key!r} in environment {app.environment!r} (see `tidings keys list`)"
        )
    out.print(f"revoked {key} in {app.environment}")


# -- env -------------------------------------------------------------------------------
PreviewArg = Annotated[str, typer.Argument(metavar="NAME", help="preview-<name>")]


def _preview(name: str) -> str:
    if not is_preview(name):
        raise ConfigError(
            f"{name!r} is not a preview environment: only preview-<name> environments "
            "are created and deleted here (lowercase letters, digits and '-')"
        )
    return name


@env_cli.command("list")
def env_list(app_ref: AppOpt = None) -> None:
    """The configured environments and the preview environments found on disk."""
    from tidings.store.admin import database_exists

    names = configured_environments(read_toml())
    folder = Path(".tidings")
    if folder.is_dir():
        names += sorted(
            p.stem
            for p in folder.glob("preview-*.db")
            if is_preview(p.stem) and p.stem not in names
        )
    table = Table(header_style="bold", box=box.SIMPLE_HEAD)
    for column in ("environment", "database", "exists", "sandbox"):
        table.add_column(column, no_wrap=True)
    for name in names:
        settings = environment_settings(name)
        url = settings.database_url or default_database_url(name)
        try:
            exists = "yes" if database_exists(url) else "no"
        except Exception as exc:
            exists = f"unknown ({type(exc).__name__})"
        table.add_row(name, redact_url(url), exists, "yes" if sandboxed(name, settings) else "no")
    out.print(table)


@env_cli.command("create")
def env_create(name: PreviewArg, app_ref: AppOpt = None) -> None:
    """Create and migrate the database of a preview environment."""
    app = load(app_ref, None, _preview(name))
    app.auto_migrate = False
    applied = app.migrate()
    out.print(
        f"{name}: {redact_url(app.database_url)} ready ({len(applied)} migrations applied)",
        soft_wrap=True,
    )


@env_cli.command("delete")
def env_delete(
    name: PreviewArg,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    app_ref: AppOpt = None,
) -> None:
    """Drop a preview environment's database: its runs, keys and everything else."""
    from tidings.store.admin import drop_database

    app = load(app_ref, None, _preview(name))
    where = redact_url(app.database_url)
    if not yes and not typer.confirm(f"drop {where} with everything in it?"):
        raise typer.Exit(1)
    app.close()
    if drop_database(app.database_url):
        out.print(f"{name}: dropped {where}", soft_wrap=True)
    else:
        out.print(f"{name}: nothing to drop at {where}", soft_wrap=True)


# -- config ----------------------------------------------------------------------------
@config_cli.command("check")
def config_check(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Validate tidings.toml and TIDINGS_* for every environment; secrets are never shown."""
    from tidings.providers.config import channel_names, provider_problem

    problems = check_config(check_providers=provider_problem)
    data = {} if problems and "not valid TOML" in problems[0] else read_toml()
    summary = []
    for name in configured_environments(data) if not problems else []:
        s = environment_settings(name, data=data)
        channels = channel_names(provider_table(s))
        summary.append(
            {
                "environment": name,
                "database_url": redact_url(s.database_url) if s.database_url else None,
                "secret_key": "set" if s.secret_key else "unset",
                "sandbox": sandboxed(name, s),
                "sandbox_allow": len(s.sandbox_allow),
                "rate_limit": s.rate_limit,
                "max_body_bytes": s.max_body_bytes,
                # names only: provider options may hold secrets
                "channels": {channel: names for channel, names in channels.items() if names},
            }
        )
    if as_json:
        sys.stdout.write(
            json.dumps({"problems": problems, "environments": summary}, indent=2) + "\n"
        )
    else:
        for problem in problems:
            print_error(problem)
        for row in summary:
            out.print(
                f"{row['environment']}: database {row['database_url'] or '(default)'}, "
                f"secret {row['secret_key']}, sandbox {'on' if row['sandbox'] else 'off'} "
                f"({row['sandbox_allow']} allowed), rate limit {row['rate_limit'] or 'none'}, "
                f"providers {_channel_summary(row['channels'])}",
                soft_wrap=True,
            )
    if problems:
        raise typer.Exit(1)


def _channel_summary(channels: Any) -> str:
    if not channels:
        return "none configured"
    return "; ".join(f"{channel} {', '.join(names)}" for channel, names in channels.items())
