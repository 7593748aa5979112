"""``tidings notify``: send a notification to one recipient, a list, or a topic."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tidings.cli.console import err, print_json
from tidings.cli.options import AppOpt, DbOpt, EnvOpt, load
from tidings.cli.runs import parse_payload
from tidings.handle import BroadcastHandle
from tidings.records.notify import Topic

POLL = 0.25


def register(cli: typer.Typer) -> None:
    cli.command()(notify)


def notify(
    type_id: Annotated[
        str, typer.Argument(metavar="TYPE", help="The notification type.", show_default=False)
    ],
    to: Annotated[
        list[str] | None,
        typer.Option("--to", help="A recipient id (repeat for a list: a broadcast)."),
    ] = None,
    topic: Annotated[
        str | None, typer.Option("--topic", help="Every subscriber of this topic.")
    ] = None,
    data_json: Annotated[
        str | None, typer.Option("--data", help="The data as JSON, or - to read stdin.")
    ] = None,
    channel: Annotated[
        list[str] | None, typer.Option("--channel", help="Only these channels (repeatable).")
    ] = None,
    dedup_key: Annotated[
        str | None, typer.Option(help="Send once per key within the idempotency window.")
    ] = None,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait/--no-wait", help="Follow a broadcast with a progress bar until routed."
        ),
    ] = True,
    app_ref: AppOpt = None,
    database_url: DbOpt = None,
    env: EnvOpt = None,
) -> None:
    """Notify one recipient (--to ID), a list (--to ID --to ID...) or a topic (--topic T).

    Prints the run id for one recipient; for a list or a topic, the broadcast id, then
    (unless --no-wait) follows its routing with a progress bar and prints its counts.
    """
    if (not to) == (topic is None):
        raise typer.BadParameter("give --to (one or more) or --topic, not both", param_hint="--to")
    data = parse_payload(data_json, "--data")
    app = load(app_ref, database_url, env)
    target: str | Topic | list[str] = (
        Topic(topic) if topic is not None else (to[0] if to and len(to) == 1 else list(to or ()))
    )
    handle = app.notify(type_id, to=target, data=data, channels=channel, dedup_key=dedup_key)
    if not isinstance(handle, BroadcastHandle):
        typer.echo(handle.id)
        if not handle.created:
            err.print(f"dedup key {dedup_key!r} matched: this is the earlier notification")
        return
    typer.echo(handle.id)
    if not handle.created:
        err.print(f"dedup key {dedup_key!r} matched: this is the earlier broadcast")
    if not wait:
        return
    try:
        _follow(handle)
    except KeyboardInterrupt:
        err.print(f"stopped following; broadcast {handle.id} goes on", soft_wrap=True)
        raise typer.Exit(130) from None
    print_json(handle.get().to_json())


def _follow(handle: BroadcastHandle) -> None:
    """A progress bar of recipients routed, until every page is (a worker routes them)."""
    columns = (
        TextColumn("routing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=False) as bar:
        progress = handle.get()
        task = bar.add_task("routing", total=progress.total)
        while True:
            progress = handle.get()
            bar.update(task, completed=progress.routed)
            if progress.finished:
                bar.update(task, total=progress.routed or progress.total)
                return
            time.sleep(POLL)
