"""``tidings demo``: registered into the ``tidings`` command by :func:`register`."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from tidings import redaction
from tidings.cli.console import make_console


def register(cli: typer.Typer) -> None:
    cli.command()(demo)


def demo(
    time_scale: Annotated[
        float,
        typer.Option(
            "--time-scale",
            min=0.001,
            help="Engine seconds per real second: 3600 plays an hour of the story each second.",
        ),
    ] = 3600.0,
    host: Annotated[str, typer.Option("--host", help="HTTP address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="HTTP port.")] = 8000,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the simulated traffic (same seed, same story).")
    ] = 7,
    reset: Annotated[
        bool, typer.Option("--reset", help="Forget the saved story and start over.")
    ] = False,
    duration: Annotated[
        float | None,
        typer.Option(
            "--duration", min=0.1, help="Stop after this many real seconds (for scripts)."
        ),
    ] = None,
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="Where the demo keeps its databases and state.")
    ] = Path(".tidings"),
) -> None:
    """MediLink live: worker, scheduler, API, dashboard and an inbox page in one process,
    with simulated users, on SQLite. Ctrl-C stops it; run it again to resume."""
    from tidings.demo import DemoOptions, run_demo

    console = make_console(sys.stdout)
    # Only problems: the live panel and progress lines say what is going on.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[redaction.guard(handler)], force=True)
    # The panel shows runs by status; a line per failed run would scroll it away.
    logging.getLogger("tidings.runs").setLevel(logging.ERROR)
    options = DemoOptions(
        time_scale=time_scale,
        host=host,
        port=port,
        seed=seed,
        reset=reset,
        duration=duration,
        folder=data_dir,
    )
    raise typer.Exit(run_demo(options, console))
