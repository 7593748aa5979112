"""Operations commands of ``tidings``: backup, restore, doctor, prune, mcp."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from tidings.cli.console import make_console, print_json
from tidings.cli.options import AppOpt, DbOpt, EnvOpt, load
from tidings.errors import ConfigError
from tidings.settings import env_database_url, resolve_environment, resolve_settings


def _console(stderr: bool = False) -> Console:
    return make_console(sys.stderr if stderr else sys.stdout, stderr=stderr)


def database_target(
    app_ref: str | None, database_url: str | None, env: str | None
) -> tuple[str, str]:
    """``(database URL, environment)`` from the app, or from the flags alone when no app
    is configured (backup and restore need only the database)."""
    try:
        resolve_settings(app_ref, database_url=database_url, environment=env)
    except ConfigError:
        url = database_url or env_database_url()
        if not url:
            raise
        return url, resolve_environment(env)
    app = load(app_ref, database_url, env)
    return app.database_url, app.environment


def _counts_table(title: str, counts: dict[str, int]) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, n in sorted(counts.items()):
        table.add_row(name, str(n))
    return table


def backup(
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Folder for backups.", show_default=".tidings/backups", file_okay=False
        ),
    ] = None,
    keep: Annotated[
        int | None,
        typer.Option(
            "--keep",
            min=1,
            help="Keep only the newest N backups of this environment.",
            show_default="all",
        ),
    ] = None,
    verify: Annotated[
        str,
        typer.Option(
            "--verify",
            help="PostgreSQL: full (restore into a scratch database and compare row "
            "counts) or toc (the archive's table of contents only).",
        ),
    ] = "full",
    app_ref: AppOpt = None,
    database_url: DbOpt = None,
    env: EnvOpt = None,
) -> None:
    """Take a consistent, verified snapshot of the environment's database (safe while
    workers run); print the file's path."""
    from tidings.ops.backup import DEFAULT_DIR, backend_of, take_backup
    from tidings.store import redact_url

    url, environment = database_target(app_ref, database_url, env)
    err = _console(stderr=True)
    folder = out_dir or DEFAULT_DIR
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn())
    live = err.is_terminal  # a bar only where someone watches; logs get the summary
    with Progress(
        *columns, TimeRemainingColumn(), console=err, transient=True, disable=not live
    ) as bar:
        what = "copying pages" if backend_of(url) == "sqlite" else "pg_dump + verify"
        job = bar.add_task(f"backup {environment}: {what}", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(job, completed=done, total=total)

        result = take_backup(url, environment, folder, keep=keep, progress=progress, verify=verify)
    m = result.manifest
    err.print(
        f"backed up {redact_url(url)} ({sum(m.tables.values())} rows in {len(m.tables)} "
        f"tables, verified by {m.verified})",
        soft_wrap=True,
    )
    for old in result.removed:
        err.print(f"removed old backup {old}", soft_wrap=True)
    typer.echo(str(result.path))


def restore(
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="A backup written by `tidings backup`.")
    ],
    force: Annotated[
        bool, typer.Option("--force", help="Replace a database that already holds data.")
    ] = False,
    app_ref: AppOpt = None,
    database_url: DbOpt = None,
    env: EnvOpt = None,
) -> None:
    """Restore FILE into the environment's database, all or nothing (it must be empty
    unless --force; stop its workers first)."""
    from tidings.ops.backup import restore_backup
    from tidings.store import open_store, redact_url

    url, _ = database_target(app_ref, database_url, env)
    counts = restore_backup(file, url, force=force)
    store = open_store(url)
    try:
        applied = store.migrate()  # an older backup is brought up to this version
    finally:
        store.close()
    out = _console()
    out.print(f"restored {file} into {redact_url(url)}", soft_wrap=True)
    if applied:
        out.print(f"then applied migrations {', '.join(applied)}", soft_wrap=True)
    out.print(_counts_table("rows restored", counts))


_MARKS = {
    "ok": ("✔", "green"),
    "warn": ("!", "yellow"),
    "fail": ("✘", "bold red"),
    "skip": ("-", "dim"),
}


def doctor(
    overdue_minutes: Annotated[
        float,
        typer.Option("--overdue-minutes", min=0, help="A run due longer ago than this is stuck."),
    ] = 5.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    app_ref: AppOpt = None,
    database_url: DbOpt = None,
    env: EnvOpt = None,
) -> None:
    """Check configuration, database, migrations, credentials, clock skew and stuck runs;
    exit 1 if anything is wrong."""
    import dataclasses
    from datetime import timedelta

    from rich.text import Text

    from tidings.ops.doctor import run_checks

    checks = run_checks(
        app_ref, database_url, env, overdue_after=timedelta(minutes=overdue_minutes)
    )
    if as_json:
        print_json([dataclasses.asdict(c) for c in checks])
    else:
        table = Table(header_style="bold", show_lines=True)
        for name in ("", "check", "result", "fix"):
            table.add_column(name, overflow="fold")
        for c in checks:
            mark, style = _MARKS[c.status]
            table.add_row(Text(mark, style=style), c.name, Text(c.detail), Text(c.fix or ""))
        _console().print(table)
    if any(c.status == "fail" for c in checks):
        raise typer.Exit(1)


def prune(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be deleted; delete nothing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    app_ref: AppOpt = None,
    database_url: DbOpt = None,
    env: EnvOpt = None,
) -> None:
    """Delete what the retention policy no longer keeps, now (workers do it hourly):
    oldest first, in short transactions, never anything an active run needs."""
    from tidings.kernel.pruning import PERIOD_OF
    from tidings.retention import describe

    app = load(app_ref, database_url, env)
    err = _console(stderr=True)
    live = err.is_terminal and not as_json
    with Progress(
        TextColumn("{task.description}"), console=err, transient=True, disable=not live
    ) as bar:
        job = bar.add_task("counting" if dry_run else "pruning", total=None)

        def progress(kind: str, deleted: int) -> None:
            bar.update(job, description=f"pruning {kind}", advance=deleted)

        report = app.prune(dry_run=dry_run, progress=progress)
    if as_json:
        print_json(report.to_json())
        return
    periods = app.retention.periods()
    table = Table(
        title="would delete (dry run)" if dry_run else "deleted",
        title_justify="left",
        header_style="bold",
    )
    table.add_column("kind")
    table.add_column("kept for")
    table.add_column("rows", justify="right")
    for kind, n in report.counts.items():
        period = PERIOD_OF.get(kind)
        kept = describe(periods[period]) if period else "until expired"
        table.add_row(kind, kept, f"{n:,}")
    out = _console()
    out.print(table)
    if not report.counts:
        out.print("retention is off: nothing is pruned", soft_wrap=True)
    elif dry_run:
        out.print(f"dry run: {report.total:,} rows would be deleted; nothing changed")
    else:
        seconds = report.duration.total_seconds()
        out.print(
            f"deleted {report.total:,} rows ({report.rows:,} with their steps, logs and "
            f"other dependants) in {seconds:.1f} s, {report.batches:,} transactions of at "
            f"most {report.max_batch_rows:,} rows"
            + ("" if report.complete else "; stopped early, run it again"),
            soft_wrap=True,
        )


def mcp(app_ref: AppOpt = None, database_url: DbOpt = None, env: EnvOpt = None) -> None:
    """Serve the app to AI assistants over MCP (stdio): tasks, trigger, events, runs."""
    try:
        from tidings.ops.mcp import serve_stdio
    except ImportError as exc:
        raise ConfigError(
            f"tidings mcp needs the MCP SDK ({exc.name} is missing): pip install 'tidings[mcp]'"
        ) from None
    app = load(app_ref, database_url, env)
    app.store  # noqa: B018 - open (and migrate) now: a bad database is an error before serving
    serve_stdio(app)


def register(cli: typer.Typer) -> None:
    """Add the operations commands to the ``tidings`` command."""
    cli.command()(backup)
    cli.command()(restore)
    cli.command()(doctor)
    cli.command()(prune)
    cli.command()(mcp)


__all__ = ["database_target", "register"]
