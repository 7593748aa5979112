"""The ``tidings`` command (entry point :func:`main`), as a package:

- ``root``: the root command, its sub-commands in help order, and :func:`main`
- ``console``: where output goes (consoles, JSON, ``error: ...`` lines, logs)
- ``options``: the ``--app``, ``--database-url``, ``--env`` and ``--json`` options
- ``render``: runs and schedules as tables and live views
- ``worker``: ``worker`` and ``dev``
- ``runs``: ``trigger``, ``events``, ``runs``, ``schedules``, ``migrate``
- ``recipients``: ``recipients export``, ``erase``, ``erasures``
- ``server``: ``serve``, ``keys``, ``env``, ``config``
- ``ops``: ``backup``, ``restore``, ``doctor``, ``mcp``
- ``demo``: ``demo``

The JSON form of runs is :mod:`tidings.jsonview` (the MCP server shares it) and the
uvicorn servers are :mod:`tidings.server.serve` (the demo shares them).
"""

from __future__ import annotations

from tidings.cli.console import configure_logging, make_console, print_error
from tidings.cli.render import (
    TransitionLog,
    all_finished,
    fetch_runs,
    follow_runs,
    render_run,
    render_runs_table,
    render_schedules_table,
    render_steps_table,
    status_text,
)
from tidings.cli.root import cli, main
from tidings.jsonview import run_to_json, schedule_to_json

__all__ = [
    "TransitionLog",
    "all_finished",
    "cli",
    "configure_logging",
    "fetch_runs",
    "follow_runs",
    "main",
    "make_console",
    "print_error",
    "render_run",
    "render_runs_table",
    "render_schedules_table",
    "render_steps_table",
    "run_to_json",
    "schedule_to_json",
    "status_text",
]
