"""What the dashboard asks the store for (``store.dashboard``), and what it gets back.

Plain frozen dataclasses the dashboard package renders, and the :class:`Dashboard`
interface (implemented in ``store/db/dashboard.py``).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tidings.records import Run, RunStatus
from tidings.records.notify import Delivery, Recipient


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


class Dashboard(abc.ABC):
    """``store.dashboard``: the web UI's reads, and its one action on runs."""

    @abc.abstractmethod
    def search_runs(self, f: RunFilter, cursor: Cursor | None, limit: int) -> list[Run]:
        """Runs matching ``f``, newest first, after ``cursor`` (without steps)."""

    @abc.abstractmethod
    def count_runs_by_status(self, f: RunFilter, cap: int) -> dict[RunStatus, int]:
        """Runs matching ``f`` per status, each count stopping at ``cap``."""

    @abc.abstractmethod
    def run_links(self, run_id: str) -> RunLinks | None:
        """The run's parent, replays, open event waits and the events that resumed it."""

    @abc.abstractmethod
    def run_statuses(self, run_ids: Sequence[str]) -> dict[str, tuple[str, RunStatus]]:
        """``{run id: (task id, status)}`` for the ids that exist."""

    @abc.abstractmethod
    def run_fingerprint(self, run_id: str) -> str | None:
        """A value that changes whenever what the run's detail page shows changes."""

    @abc.abstractmethod
    def retry_now(self, run_id: str, now: datetime) -> bool:
        """Make a backing-off/delayed queued run or a sleeping run due now; else False."""

    @abc.abstractmethod
    def list_events(self, name: str | None, cursor: Cursor | None, limit: int) -> list[EventView]:
        """Received events, newest first, with the runs they started and waits resumed."""

    @abc.abstractmethod
    def get_event_view(self, event_id: str) -> EventView | None: ...

    @abc.abstractmethod
    def task_stats(self, since: datetime) -> dict[str, dict[RunStatus, int]]:
        """Per task, the runs finished since ``since`` by final status."""

    @abc.abstractmethod
    def overview(
        self, now: datetime, window: timedelta, buckets: int, lookback: timedelta
    ) -> Overview:
        """Throughput, failures and queue depth over ``window``; the slowest tasks."""

    @abc.abstractmethod
    def run_deliveries(self, run_id: str) -> list[Delivery]:
        """The deliveries of the notifications ``run_id`` sent, oldest first."""

    @abc.abstractmethod
    def notification_run(self, notification_id: str) -> str | None:
        """The run that sent a notification, if one did."""

    @abc.abstractmethod
    def list_recipients(self, search: str | None, after: str | None, limit: int) -> list[Recipient]:
        """Recipients by id after ``after``; ``search`` matches an id, email or phone."""

    @abc.abstractmethod
    def failing_providers(self, since: datetime) -> list[tuple[str, str, int]]:
        """(channel, provider, count) of deliveries failed, bounced or complained since."""
