"""What ``tidings demo`` shows: runs by status, deliveries by channel and status, and
the latest notifications, as a live panel on a terminal or plain lines in a pipe."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from tidings.records import RunStatus
from tidings.store.dashboard import RunFilter

if TYPE_CHECKING:
    from tidings.app import Tidings
    from tidings.records.notify import Delivery

COUNT_CAP = 1_000_000
LATEST = 6
CHANNELS = ("in_app", "email", "push", "sms")
DELIVERY_STYLES = {
    "sent": "green",
    "delivered": "bold green",
    "pending": "cyan",
    "deferred": "magenta",
    "failed": "bold red",
    "bounced": "red",
    "complained": "red",
    "suppressed": "dim",
    "skipped": "dim",
}
RUN_STYLES = {
    RunStatus.QUEUED: "cyan",
    RunStatus.RUNNING: "bold yellow",
    RunStatus.WAITING: "magenta",
    RunStatus.COMPLETED: "green",
    RunStatus.FAILED: "bold red",
    RunStatus.CANCELLED: "dim",
}


@dataclass(frozen=True)
class Snapshot:
    """One look at the demo's database."""

    engine_now: datetime
    runs: dict[RunStatus, int]
    deliveries: dict[tuple[str, str], int]
    latest: list[Delivery]
    """The newest deliveries, newest first."""
    inbox_unread: int

    @property
    def total_runs(self) -> int:
        return sum(self.runs.values())

    @property
    def total_deliveries(self) -> int:
        return sum(self.deliveries.values())


def take_snapshot(app: Tidings, inbox_user: str | None) -> Snapshot:
    """Read the counts and the latest notifications (blocking: call it in a thread)."""
    return Snapshot(
        engine_now=app.clock.now(),
        runs=app.store.dashboard.count_runs_by_status(RunFilter(), COUNT_CAP),
        deliveries=app.deliveries.counts(),
        latest=app.deliveries.list(limit=LATEST),
        inbox_unread=app.inbox.unread_count(inbox_user) if inbox_user else 0,
    )


def describe(d: Delivery) -> str:
    """The words of a notification as its channel shows them."""
    text = d.title or d.subject or d.body or d.text or ""
    return " ".join(text.split())


def delivery_line(d: Delivery) -> str:
    """A plain line for one notification."""
    what = describe(d)
    return f"notification {d.type} -> {d.to} via {d.channel}: {d.status}" + (
        f' "{what[:80]}"' if what else ""
    )


def summary_line(s: Snapshot) -> str:
    """Runs by status and deliveries by channel/status, on one line."""
    runs = ", ".join(f"{st.value} {n}" for st, n in s.runs.items() if n) or "none yet"
    deliveries = (
        ", ".join(f"{ch}/{st} {n}" for (ch, st), n in sorted(s.deliveries.items())) or "none yet"
    )
    return (
        f"[engine {s.engine_now.astimezone():%Y-%m-%d %H:%M}] runs: {runs} | "
        f"deliveries: {deliveries}"
    )


@dataclass
class Panel:
    """The live terminal view (rich renderable), fed snapshots and simulated actions."""

    actions: deque[str] = field(default_factory=lambda: deque(maxlen=4))

    def render(self, s: Snapshot | None) -> RenderableType:
        parts: list[RenderableType] = []
        if s is None:
            return Text("starting...", style="dim")
        parts.append(
            Text.assemble(
                ("engine time ", "bold"),
                f"{s.engine_now.astimezone():%a %Y-%m-%d %H:%M}",
                f"   ·   {s.total_runs} runs, {s.total_deliveries} deliveries",
                f"   ·   demo inbox: {s.inbox_unread} unread",
            )
        )
        grid = Table.grid(padding=(0, 4))
        grid.add_row(runs_table(s.runs), deliveries_table(s.deliveries))
        parts += [grid, latest_table(s.latest)]
        if self.actions:
            parts.append(Text("simulated traffic", style="bold"))
            parts += [
                Text(f"  {a}", style="dim", overflow="ellipsis", no_wrap=True) for a in self.actions
            ]
        parts.append(Text("Ctrl-C stops; run it again to resume.", style="dim"))
        return Group(*parts)


def runs_table(runs: dict[RunStatus, int]) -> Table:
    table = Table(title="runs", box=box.SIMPLE, title_justify="left")
    table.add_column("status")
    table.add_column("runs", justify="right")
    for status in RunStatus:
        table.add_row(
            Text(status.value, style=RUN_STYLES.get(status, "")), str(runs.get(status, 0))
        )
    return table


def deliveries_table(counts: dict[tuple[str, str], int]) -> Table:
    statuses = sorted(
        {st for _, st in counts},
        key=lambda st: list(DELIVERY_STYLES).index(st) if st in DELIVERY_STYLES else 99,
    )
    table = Table(title="deliveries", box=box.SIMPLE, title_justify="left")
    table.add_column("channel")
    for st in statuses or ["sent"]:
        table.add_column(Text(st, style=DELIVERY_STYLES.get(st, "")), justify="right")
    channels = [c for c in CHANNELS if any(ch == c for ch, _ in counts)] or list(CHANNELS)
    channels += sorted({ch for ch, _ in counts} - set(channels))
    for ch in channels:
        table.add_row(ch, *(str(counts.get((ch, st), 0)) for st in statuses or ["sent"]))
    return table


def latest_table(latest: Sequence[Delivery]) -> Table:
    table = Table(title="latest notifications", box=box.SIMPLE, title_justify="left", expand=True)
    table.add_column("engine time", no_wrap=True)
    table.add_column("type", no_wrap=True)
    table.add_column("to", no_wrap=True)
    table.add_column("channel", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("message", overflow="ellipsis", no_wrap=True, ratio=1)
    for d in latest:
        table.add_row(
            f"{d.created_at.astimezone():%m-%d %H:%M}",
            d.type,
            d.to,
            d.channel,
            Text(d.status, style=DELIVERY_STYLES.get(d.status, "")),
            describe(d),
        )
    return table
