"""Runs and schedules drawn for people: tables, one run in full, live views.

Public so every command (and the dev server) draws runs the same way; the JSON form of
runs lives in :mod:`tidings.jsonview`, shared with the MCP server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from tidings.limits import readable
from tidings.records import BulkAction, LogEntry, Run, RunStatus, Schedule, Step

if TYPE_CHECKING:
    from tidings.app import Tidings

STATUS_STYLES: dict[RunStatus, str] = {
    RunStatus.QUEUED: "cyan",
    RunStatus.RUNNING: "bold yellow",
    RunStatus.WAITING: "magenta",
    RunStatus.COMPLETED: "green",
    RunStatus.FAILED: "bold red",
    RunStatus.CANCELLED: "dim",
}


def status_text(status: RunStatus) -> Text:
    """The status name in its colour."""
    return Text(status.value, style=STATUS_STYLES.get(status, ""))


def format_time(when: datetime | None, *, short: bool = False) -> str:
    """Local time to the second, or ``-``; ``short`` drops the date when it is today."""
    if when is None:
        return "-"
    try:
        local = when.astimezone()
    except (OverflowError, ValueError):  # a stored time at the edge of year 1 or 9999
        return when.strftime("%Y-%m-%d %H:%M:%S UTC")
    if short:
        today = datetime.now().astimezone().date() == local.date()
        return local.strftime("%H:%M:%S" if today else "%m-%d %H:%M")
    return local.strftime("%Y-%m-%d %H:%M:%S")


def format_delta(seconds: float) -> str:
    """A short human duration: ``0.4s``, ``12s``, ``5m``, ``3h``, ``2d``."""
    seconds = max(seconds, 0.0)
    if seconds < 10:
        return f"{seconds:.1f}s"
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def next_event(run: Run, now: datetime) -> str:
    """When a waiting run wakes or a queued run (maybe a retry) is due, relative to now."""
    if run.status is RunStatus.WAITING and run.wake_at is not None:
        return f"wakes in {format_delta((run.wake_at - now).total_seconds())}"
    if run.status is RunStatus.QUEUED and run.run_at is not None and run.run_at > now:
        what = "retry" if run.attempt > 1 else "starts"
        return f"{what} in {format_delta((run.run_at - now).total_seconds())}"
    return ""


def truncate(value: Any, width: int = 60) -> str:
    """Compact JSON of ``value`` cut to ``width`` characters."""
    if value is None:
        return ""
    text = json.dumps(readable(value), ensure_ascii=False, separators=(",", ":"), default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def render_bulk_table(actions: Sequence[BulkAction]) -> Table:
    """Bulk actions: id, kind, status, progress, what they changed, the filter."""
    table = Table(header_style="bold", box=box.SIMPLE_HEAD, collapse_padding=True, pad_edge=False)
    table.add_column("bulk action", no_wrap=True)
    for name in ("kind", "status", "done", "changed", "created", "finished", "filter"):
        table.add_column(
            name,
            no_wrap=name != "filter",
            justify="right" if name in ("done", "changed") else "left",
        )
    for a in actions:
        shown = ", ".join(
            f"{k}={v.isoformat() if isinstance(v, datetime) else ','.join(v)}"
            for k, v in a.filter.items()
            if v is not None
        )
        table.add_row(
            a.id, a.kind, a.status, f"{a.done}/{a.total}", str(a.changed),
            format_time(a.created_at, short=True), format_time(a.finished_at, short=True),
            shown or "(every run)",
        )  # fmt: skip
    return table


def render_runs_table(
    runs: Sequence[Run],
    *,
    now: datetime | None = None,
    steps: bool = False,
    title: str | None = None,
) -> Table:
    """A table of runs: id, task, status, attempt, created, finished.

    With ``steps=True`` (runs fetched with their steps) it also shows how many steps
    are done and when a waiting or retrying run is next due.
    """
    now = now or datetime.now().astimezone()
    table = Table(
        title=title,
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
        pad_edge=False,
    )
    # Ids are what people copy into the next command: never cut them short.
    table.add_column("run", no_wrap=True, min_width=len(runs[0].id) if runs else None)
    table.add_column("task", no_wrap=True)
    table.add_column("status", no_wrap=True, min_width=9)
    table.add_column("attempt", justify="right")
    if steps:  # live views care about what happens next more than when runs began
        table.add_column("steps", justify="right", no_wrap=True)
        table.add_column("next", no_wrap=True)
    else:
        table.add_column("created", no_wrap=True)
    table.add_column("finished", no_wrap=True)
    for run in runs:
        row: list[RenderableType] = [run.id, run.task_id, status_text(run.status), str(run.attempt)]
        if steps:
            done = sum(1 for s in run.steps if s.status == "completed")
            row += [f"{done}/{len(run.steps)}", next_event(run, now)]
        else:
            row.append(format_time(run.created_at, short=True))
        row.append(format_time(run.finished_at, short=True))
        table.add_row(*row)
    if not runs:
        table.caption = "no runs"
    return table


def render_steps_table(steps: Sequence[Step]) -> Table:
    """The steps of one run: name, kind, status, attempts, result (truncated), error."""
    table = Table(title="steps", title_justify="left", header_style="bold")
    for name in ("name", "kind", "status", "attempts", "result", "error"):
        table.add_column(name, justify="right" if name == "attempts" else "left")
    for s in steps:
        style = {"completed": "green", "failed": "red", "waiting": "magenta"}.get(s.status, "")
        table.add_row(
            s.name,
            s.kind,
            Text(s.status, style=style),
            str(s.attempts),
            truncate(s.result, 40),
            f"{s.error.type}: {s.error.message}" if s.error else "",
        )
    if not steps:
        table.caption = "no steps yet"
    return table


def render_run(run: Run, logs: Sequence[LogEntry] = ()) -> Group:
    """Everything about one run: its fields, steps table, log lines and stored traceback."""
    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="bold")
    fields.add_column()
    rows: list[tuple[str, RenderableType]] = [
        ("run", run.id),
        ("task", run.task_id),
        ("status", status_text(run.status)),
        ("attempt", str(run.attempt)),
        ("queue", f"{run.queue} (priority {run.priority})"),
        ("created", format_time(run.created_at)),
        ("started", format_time(run.started_at)),
        ("finished", format_time(run.finished_at)),
    ]
    if run.wake_at is not None:
        rows.append(("wakes", format_time(run.wake_at)))
    optional = (("idempotency key", run.idempotency_key), ("replay of", run.replay_of))
    rows += [(k, v) for k, v in optional if v]
    if run.tags:
        rows.append(("tags", ", ".join(run.tags)))
    if run.coalesced:
        rows.append(("coalesced", f"{run.coalesced}: {', '.join(run.coalesced_ids)}"))
    rows.append(("payload", truncate(run.payload, 500) or "null"))
    if run.status is RunStatus.COMPLETED:
        rows.append(("result", truncate(run.result, 500)))
    if run.error is not None:
        rows.append(("error", Text(f"{run.error.type}: {run.error.message}", style="red")))
    for key, value in rows:
        fields.add_row(key, value)
    parts: list[RenderableType] = [fields, Text(), render_steps_table(run.steps)]
    if logs:
        parts += [Text(), Text("logs", style="bold")]
        parts += [
            Text(f"{format_time(e.at)}  {e.level:<7} [attempt {e.attempt}] {e.message}")
            for e in logs
        ]
    if run.error is not None and run.error.traceback and run.status is RunStatus.FAILED:
        parts += [Text(), Text(run.error.traceback.rstrip(), style="dim")]
    return Group(*parts)


class TransitionLog:
    """Turns successive snapshots of runs into one line per change, for logs and CI."""

    def __init__(self) -> None:
        self._runs: dict[str, tuple[RunStatus, int]] = {}
        self._steps: dict[tuple[str, str], tuple[str, int]] = {}

    def changes(self, runs: Sequence[Run]) -> list[Text]:
        """Lines for whatever changed since the previous call."""
        stamp = datetime.now().astimezone().strftime("%H:%M:%S")
        lines: list[Text] = []
        for run in sorted(runs, key=lambda r: (r.created_at, r.id)):
            head = f"{stamp}  {run.id}  {run.task_id}  "
            for step in run.steps:
                key, state = (run.id, step.name), (step.status, step.attempts)
                if self._steps.get(key) == state:
                    continue
                self._steps[key] = state
                tries = f" (attempt {step.attempts})" if step.attempts > 1 else ""
                lines.append(Text(f"{head}step {step.name} {step.status}{tries}"))
            now = (run.status, run.attempt)
            before = self._runs.get(run.id)
            if before == now:
                continue
            self._runs[run.id] = now
            line = Text(head)
            if before is not None and before[0] is not run.status:
                line.append_text(status_text(before[0])).append(" → ")
            line.append_text(status_text(run.status))
            if run.attempt > 1:
                line.append(f" (attempt {run.attempt})")
            if run.status is RunStatus.FAILED and run.error is not None:
                line.append(f": {run.error.type}: {run.error.message}", style="red")
            lines.append(line)
        return lines


def fetch_runs(
    app: Tidings,
    *,
    task_id: str | None = None,
    status: Sequence[str] | None = None,
    limit: int = 50,
    steps: bool = False,
    internal: bool = False,
) -> list[Run]:
    """Runs newest first, each re-read with its steps when ``steps`` is set.

    tidings' own runs (tasks ``tidings.*``: deliveries, receipts) are left out unless
    ``internal`` is set or ``task_id`` names one."""
    wanted = list(status) if status else None
    if internal or (task_id is not None and is_internal(task_id)):
        runs = app.list_runs(task_id=task_id, status=wanted, limit=limit)
    else:
        runs = _user_runs(app, task_id, wanted, limit)
    if not steps:
        return runs
    detailed = [app.store.runs.get(r.id) for r in runs]  # one query each: fine for a screen
    return [r for r in detailed if r is not None]


INTERNAL_PREFIX = "tidings."
MAX_SCAN = 20_000
"""Runs read at most to find ``limit`` user runs among tidings' own."""


def is_internal(task_id: str) -> bool:
    """Whether ``task_id`` is one of tidings' own tasks (notification deliveries...)."""
    return task_id.startswith(INTERNAL_PREFIX)


def _user_runs(
    app: Tidings, task_id: str | None, status: list[str] | None, limit: int
) -> list[Run]:
    """The newest ``limit`` runs of user tasks: read more while tidings' own fill a page."""
    scan = limit
    while True:
        runs = app.list_runs(task_id=task_id, status=status, limit=scan)
        mine = [r for r in runs if not is_internal(r.task_id)]
        if len(mine) >= limit or len(runs) < scan or scan >= MAX_SCAN:
            return mine[:limit]
        scan = min(scan * 4, MAX_SCAN)


async def follow_runs(
    fetch: Callable[[], list[Run]],
    *,
    render: Callable[[list[Run]], RenderableType],
    console: Console,
    until: Callable[[list[Run]], bool] | None = None,
    interval: float = 0.5,
) -> list[Run]:
    """Redraw ``render(fetch())`` every ``interval`` seconds until ``until(runs)`` holds.

    On a terminal this is a live display; otherwise (CI, a pipe) each change of status
    or step is printed as one line. Returns the last snapshot.
    """
    live = console.is_terminal
    changes = TransitionLog()
    display = Live(console=console, refresh_per_second=4) if live else contextlib.nullcontext()
    with display as view:
        while True:
            runs = await asyncio.to_thread(fetch)
            if isinstance(view, Live):
                view.update(render(runs))
            else:
                for line in changes.changes(runs):
                    console.print(line, soft_wrap=True)
            if until is not None and until(runs):
                return runs
            await asyncio.sleep(interval)


def all_finished(runs: Sequence[Run]) -> bool:
    """True when no run in ``runs`` is queued, running or waiting."""
    return all(r.status.finished for r in runs)


def render_schedules_table(schedules: Sequence[Schedule], *, now: datetime | None = None) -> Table:
    """Schedules, soonest first: next fire time in the schedule's timezone and from now."""
    now = now or datetime.now().astimezone()
    table = Table(header_style="bold", box=box.SIMPLE_HEAD, collapse_padding=True, pad_edge=False)
    for name in ("schedule", "task", "key", "cron", "timezone", "next", "in", "last", "catch-up"):
        table.add_column(name, no_wrap=name != "key")
    for s in schedules:
        local = s.next_run_at.astimezone(ZoneInfo(s.timezone))
        table.add_row(
            s.id,
            s.task_id,
            s.key or ("(static)" if s.static else ""),
            s.cron,
            s.timezone,
            local.strftime("%Y-%m-%d %H:%M %Z"),
            format_delta((s.next_run_at - now).total_seconds()),
            format_time(s.last_run_at, short=True),
            s.catch_up,
        )
    if not schedules:
        table.caption = "no schedules"
    return table


__all__ = [
    "STATUS_STYLES",
    "TransitionLog",
    "all_finished",
    "fetch_runs",
    "follow_runs",
    "format_delta",
    "format_time",
    "next_event",
    "render_run",
    "render_runs_table",
    "render_schedules_table",
    "render_steps_table",
    "status_text",
    "truncate",
]
