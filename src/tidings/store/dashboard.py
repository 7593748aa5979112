"""What the dashboard asks the store for, and what it gets back.

Plain frozen dataclasses shared by the :class:`~tidings.store.base.Store` interface and
the SQL mixin (store/sqldashboard.py); the dashboard package renders them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tidings.records import RunStatus


@dataclass(frozen=True)
class RunFilter:
    """Filters of the run list; every field is optional."""

    task_id: str | None = None
    status: RunStatus | None = None
    since: datetime | None = None
    """Created at or after this time."""
    until: datetime | None = None
    """Created before this time."""
    tag: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Cursor:
    """Where a page of runs (newest first) ended: the last row's creation time and id."""

    at: datetime
    id: str


@dataclass(frozen=True)
class RunLinks:
    """How a run relates to others, and what it waits for."""

    parent_run_id: str | None
    """The run that triggered this one (``ctx.trigger`` or ``ctx.trigger_and_wait``)."""
    replays: tuple[tuple[str, RunStatus], ...] = ()
    """Runs started by replaying this one: (id, status)."""
    waits: tuple[EventWaitView, ...] = ()
    resumed_by: tuple[tuple[str, str, datetime], ...] = ()
    """(event id, step, when) for each wait an event resumed."""


@dataclass(frozen=True)
class EventWaitView:
    step: str
    event_name: str
    match: dict[str, Any]
    """Dotted path -> the value the event must carry there."""
    since: datetime


@dataclass(frozen=True)
class EventView:
    """A received event with the runs it started and the waits it resumed."""

    id: str
    name: str
    data: Any
    ts: datetime
    received_at: datetime
    run_ids: tuple[str, ...]
    resumed: tuple[tuple[str, str], ...] = ()
    """(run id, step) of each wait it resumed."""


@dataclass(frozen=True)
class Series:
    """Counts per time bucket, oldest first."""

    start: datetime
    bucket_seconds: int
    completed: list[int]
    failed: list[int]
    queued: list[int]
    """Runs due and not yet started at the end of each bucket (those due in the window)."""


@dataclass(frozen=True)
class TaskTiming:
    task_id: str
    runs: int
    avg_seconds: float
    max_seconds: float


@dataclass(frozen=True)
class Overview:
    series: Series
    queue_now: int
    slowest: list[TaskTiming] = field(default_factory=list)
