"""Read-only records returned by the client API."""

from __future__ import annotations

import enum
import traceback as _traceback
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class RunStatus(enum.StrEnum):
    """Lifecycle of a run. Retries are QUEUED with a future ``run_at``."""

    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    WAITING = "WAITING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def finished(self) -> bool:
        return self in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)


ACTIVE_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.WAITING)


@dataclass(frozen=True)
class ErrorInfo:
    """A stored failure: exception type, message and formatted traceback."""

    type: str
    message: str
    traceback: str = ""

    @classmethod
    def from_exception(cls, exc: BaseException) -> ErrorInfo:
        return cls(
            type=type(exc).__qualname__,
            message=str(exc),
            traceback="".join(_traceback.format_exception(exc)),
        )

    def to_json(self) -> dict[str, str]:
        return {"type": self.type, "message": self.message, "traceback": self.traceback}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> ErrorInfo | None:
        if not data:
            return None
        return cls(str(data["type"]), str(data["message"]), str(data.get("traceback", "")))


@dataclass(frozen=True)
class Step:
    """One memoized step of a run as stored."""

    name: str
    kind: str
    """``step``, ``sleep``, ``wait_for_event``, ``notify``, ``trigger``, ..."""
    status: str
    """``completed``, ``failed`` (will be retried or failed the run) or ``waiting``."""
    attempts: int
    result: Any
    error: ErrorInfo | None
    started_at: datetime | None
    finished_at: datetime | None
    wake_at: datetime | None = None


@dataclass(frozen=True)
class LogEntry:
    """A line written through ``ctx.logger``, stored with its run."""

    at: datetime
    level: str
    message: str
    attempt: int


@dataclass(frozen=True)
class Run:
    """One execution of a task with a payload."""

    id: str
    task_id: str
    status: RunStatus
    payload: Any
    result: Any
    error: ErrorInfo | None
    attempt: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    wake_at: datetime | None
    idempotency_key: str | None
    tags: tuple[str, ...]
    queue: str = "default"
    priority: int = 0
    run_at: datetime | None = None
    replay_of: str | None = None
    steps: list[Step] = field(default_factory=list)
    coalesced: int = 0
    """How many triggers or events a debounced or batched run gathered (0: not such a run)."""
    coalesced_ids: tuple[str, ...] = ()
    """Their ids (trigger ids, or event ids for runs started by events), oldest first;
    filled by ``get_run``, empty in lists."""


@dataclass(frozen=True)
class Event:
    """An event as a waiting run receives it."""

    id: str
    name: str
    data: Any
    ts: datetime

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Event:
        return cls(
            str(value["id"]),
            str(value["name"]),
            value["data"],
            datetime.fromisoformat(str(value["ts"])),
        )


@dataclass(frozen=True)
class EventReceipt:
    """What ``send_event`` did with an event."""

    event_id: str
    run_ids: tuple[str, ...]
    """Runs the event started (tasks with ``on_event``); the first send's for a repeat."""
    accepted: bool = True
    """False when this event id had been sent before: nothing was done again."""
    warning: str | None = None
    """Set when nothing listens for the event: it was recorded and did nothing (no
    ``on_event`` task, no ``cancel_on`` rule, no run waiting for it)."""


@dataclass(frozen=True)
class Schedule:
    """A cron schedule: a task's static ``cron=`` or one made by ``app.schedules.create``."""

    id: str
    task_id: str
    cron: str
    timezone: str
    key: str | None
    """Caller's name for a dynamic schedule (e.g. one per user); None for a static one."""
    payload: Any
    """Passed to each run under ``payload`` (dynamic schedules)."""
    next_run_at: datetime
    """The next tick not yet fired."""
    last_run_at: datetime | None
    """The last tick fired, or None before the first."""
    catch_up: str = "latest"
    """After downtime: ``latest``, ``all`` or ``none`` of the missed ticks run."""
    static: bool = False
    """Declared with ``@app.task(cron=...)`` (kept in step with the code at worker start)."""
    paused: bool = False
    """A paused schedule fires no tick until resumed (``app.schedules.pause``)."""


@dataclass(frozen=True)
class BulkAction:
    """A bulk cancel or replay (``app.runs.cancel_many`` / ``replay_many``) and its progress.

    Its filter was fixed when it was made (runs created later never match); one run
    (``run_id``) acts on the matching runs a page at a time, surviving crashes.
    """

    id: str
    kind: str
    """``"cancel"`` or ``"replay"``."""
    filter: dict[str, Any]
    """``tasks``, ``statuses``, ``tags``, ``created_after``, ``created_before`` (None: any)."""
    total: int
    """Runs the filter matched when the action was made; once it has finished, how many
    it went through (runs that stopped matching meanwhile, e.g. queued runs that
    completed before a cancel reached them, are left out)."""
    done: int
    """Runs gone through so far."""
    changed: int
    """Runs it cancelled, or new runs it made; a run already finished is not cancelled
    again."""
    status: str
    """``running``, ``completed``, ``failed`` or ``cancelled`` (its run failed or was
    cancelled before it went through every page)."""
    created_at: datetime
    finished_at: datetime | None
    run_id: str | None = None
    """The run of ``tidings.runs.bulk`` doing the work (None when nothing matched)."""

    @property
    def progress(self) -> float:
        """``done / total`` from 0.0 to 1.0 (1.0 once finished)."""
        if self.finished_at is not None or self.total == 0:
            return 1.0
        return min(1.0, self.done / self.total)
