"""``tidings worker`` and ``tidings dev``: run due runs (and, for dev, the HTTP API and a
live table of recent runs)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from tidings.cli.console import configure_logging, err, out
from tidings.cli.options import AppOpt, DashboardEnvsOpt, DbOpt, EnvOpt, load
from tidings.cli.render import fetch_runs, follow_runs, render_runs_table
from tidings.logs import resolve_format as resolve_log_format
from tidings.store import redact_url

if TYPE_CHECKING:
    from tidings.app import Tidings
    from tidings.engine.worker import Worker


def register(cli: typer.Typer) -> None:
    """Add ``worker`` and ``dev`` to the ``tidings`` command."""
    cli.command()(worker)
    cli.command()(dev)


def _run_worker(
    mode: str,
    app_ref: str | None,
    database_url: str | None,
    env: str | None,
    concurrency: int,
    queues: list[str] | None,
    lease_seconds: float | None,
    poll_interval: float,
    log_format: str | None = None,
    api: tuple[str, int, str | None] | None = None,
) -> None:
    live = mode == "dev"
    configure_logging(out if live else err, log_format)
    app = load(app_ref, database_url, env)
    if lease_seconds is not None:
        app.configure(lease=lease_seconds)
    w = app.worker(concurrency, queues, poll_interval=poll_interval)
    tasks = ", ".join(sorted(app.tasks)) or "none"
    banner = Text.assemble(
        (f"tidings {mode} ", "bold"),
        (w.id, "cyan"),
        f" · {redact_url(app.database_url)} · env {app.environment}",
        f" · concurrency {concurrency} · queues {', '.join(queues or ['all'])}",
        f" · {len(app.tasks)} tasks: {tasks}",
    )
    if live and api is not None:
        banner.append(f" · dashboard http://{api[0]}:{api[1]}/dashboard")
    if resolve_log_format(log_format) == "json":  # log shippers get JSON lines only
        logging.getLogger("tidings.cli").info(banner.plain)
    else:
        out.print(banner, soft_wrap=True)
    asyncio.run(_dev(app, w, api) if live else w.run(install_signal_handlers=True))


async def _dev(app: Tidings, w: Worker, api: tuple[str, int, str | None] | None = None) -> None:
    running = asyncio.create_task(w.run(install_signal_handlers=True))
    serving = None
    if api is not None:  # the HTTP API in the same process, stopped with the worker
        from tidings.server.serve import serve_beside

        host, port, dashboard_envs = api
        serving = asyncio.create_task(
            serve_beside(app, host, port, running, dashboard_envs=dashboard_envs)
        )
    try:
        await follow_runs(
            lambda: fetch_runs(app, limit=15, steps=True),
            render=lambda runs: render_runs_table(runs, steps=True, title="recent runs"),
            console=out,
            until=lambda _: running.done() or (serving is not None and serving.done()),
        )
    finally:
        w.stop()  # if the display failed, the worker must not outlive it
        if serving is not None:
            await serving  # re-raises what stopped the server (a port in use), if anything
        await running  # re-raises what stopped the worker, if anything


ConcurrencyOpt = Annotated[
    int, typer.Option("--concurrency", "-c", min=1, help="Runs executed at once.")
]
QueueOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--queue", "-q", help="Only run tasks of this queue (repeatable).", show_default="all"
    ),
]
LeaseOpt = Annotated[
    float | None,
    typer.Option(
        "--lease-seconds",
        min=0.1,
        help="How long a claimed run stays claimed without a heartbeat.",
        show_default="app's lease, $TIDINGS_LEASE_SECONDS or 30",
    ),
]
PollOpt = Annotated[
    float, typer.Option("--poll-interval", min=0.01, help="Seconds between looks for due runs.")
]
LogFormatOpt = Annotated[
    str | None,
    typer.Option(
        "--log-format",
        help="text, or json: one JSON object per line with run_id and step ($TIDINGS_LOG_FORMAT).",
        show_default="text",
    ),
]


def worker(
    concurrency: ConcurrencyOpt = 10,
    queue: QueueOpt = None,
    lease_seconds: LeaseOpt = None,
    poll_interval: PollOpt = 1.0,
    log_format: LogFormatOpt = None,
    app_ref: AppOpt = None,
    database_url: DbOpt = None,
    env: EnvOpt = None,
) -> None:
    """Run due runs until SIGTERM or Ctrl-C, then finish in-flight runs and exit."""
    _run_worker(
        "worker",
        app_ref,
        database_url,
        env,
        concurrency,
        queue,
        lease_seconds,
        poll_interval,
        log_format,
    )


def dev(
    concurrency: ConcurrencyOpt = 10,
    queue: QueueOpt = None,
    lease_seconds: LeaseOpt = None,
    poll_interval: PollOpt = 1.0,
    log_format: LogFormatOpt = None,
    app_ref: AppOpt = None,
    database_url: DbOpt = None,
    env: EnvOpt = None,
    host: Annotated[str, typer.Option("--host", help="HTTP API address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="HTTP API port.")] = 8000,
    no_api: Annotated[bool, typer.Option("--no-api", help="Run without the HTTP API.")] = False,
    dashboard_envs: DashboardEnvsOpt = None,
) -> None:
    """A worker, the HTTP API and a live table of recent runs (plain log lines when not
    on a terminal)."""
    api = None if no_api else (host, port, dashboard_envs)
    _run_worker(
        "dev",
        app_ref,
        database_url,
        env,
        concurrency,
        queue,
        lease_seconds,
        poll_interval,
        log_format,
        api,
    )
