"""The one interface every backend implements; the engine never sees SQL.

Methods are synchronous and thread-safe: the client API calls them from the caller's
thread, the worker from its database thread. Every time-dependent method takes ``now``
from the engine clock, so the store never reads the wall clock itself.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from tidings.records import ErrorInfo, LogEntry, Run, RunStatus, Schedule
from tidings.store.dashboard import Cursor, EventView, Overview, RunFilter, RunLinks
from tidings.store.notifybase import NotifyStore

if TYPE_CHECKING:
    from tidings.notify.records import Delivery, InboxItem, Recipient


@dataclass(frozen=True)
class NewRun:
    id: str
    task_id: str
    queue: str
    priority: int
    payload: str
    """JSON text."""
    run_at: datetime
    idempotency_key: str | None = None
    tags: tuple[str, ...] = ()
    replay_of: str | None = None
    parent_run_id: str | None = None
    """Set for a child run whose parent may wait for it (ctx.trigger_and_wait)."""
    cancel_keys: tuple[CancelKey, ...] = ()
    """Keys a CancelOn of the task matches events against."""
    concurrency_key: str | None = None
    """Flow control: the key the task's concurrency limit counts per (None: unlimited)."""
    rate_key: str | None = None
    """Flow control: the key the task's rate limit counts per (None: unlimited)."""
    traceparent: str | None = None
    """W3C trace context of the trigger or event that created the run (tracing on)."""


@dataclass(frozen=True)
class FlowLimit:
    """A task's flow-control limits, as claims enforce them."""

    task_id: str
    concurrency: int | None
    """Most RUNNING runs per concurrency key value."""
    rate: int | None
    """Most starts per ``period`` per rate key value."""
    period: timedelta | None


@dataclass(frozen=True)
class CancelKey:
    event_name: str
    task_id: str
    key: str
    """Canonical JSON of the values the event must carry at the CancelOn's paths."""


@dataclass(frozen=True)
class EventWait:
    """A wait for an event, registered when the attempt that began it ends."""

    step: str
    event_name: str
    match_paths: str
    """Canonical JSON list of the dotted paths matched on."""
    match_key: str
    """Canonical JSON list of the expected values at those paths."""
    since: datetime
    """Only events received at or after this time count."""


@dataclass(frozen=True)
class NewEvent:
    id: str
    name: str
    data: str
    """JSON text."""
    ts: datetime


@dataclass(frozen=True)
class EventSent:
    """What ``send_event`` did: the runs it started and cancelled, the waits it resumed."""

    event_id: str
    run_ids: tuple[str, ...]
    accepted: bool
    """False when the id had been seen: nothing was done again."""
    cancelled: tuple[str, ...] = ()
    resumed: tuple[str, ...] = ()


@dataclass(frozen=True)
class ApiKeyRecord:
    """An API key as stored: never the key itself, only its hash (kept by the store)."""

    id: str
    environment: str
    name: str
    scope: str
    """``admin`` (everything) or ``publish`` (send events, trigger tasks)."""
    hint: str
    """The first characters of the key, to recognise it in a list."""
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class StepRecord:
    """A step as the executor reads and writes it (results stay JSON text)."""

    name: str
    kind: str
    status: str
    attempts: int
    result: str | None = None
    error: ErrorInfo | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    wake_at: datetime | None = None


@dataclass(frozen=True)
class ClaimedRun:
    id: str
    task_id: str
    payload: str
    attempt: int
    body_attempts: int
    lease_token: str
    reclaims: int = 0
    """Times the run was taken over from a vanished worker since an attempt last ended."""
    parent_run_id: str | None = None
    steps: dict[str, StepRecord] = field(default_factory=dict)


@dataclass(frozen=True)
class LogWrite:
    at: datetime
    level: str
    message: str
    attempt: int


@dataclass(frozen=True)
class Outcome:
    """How an attempt ended, written atomically with its last step and log lines."""

    status: RunStatus
    due_at: datetime | None = None
    """Next time a worker should look at the run (retry time or wake time)."""
    result: str | None = None
    error: ErrorInfo | None = None
    attempt: int | None = None
    body_attempts: int | None = None
    finished_at: datetime | None = None
    waits: tuple[EventWait, ...] = ()
    """With WAITING: the event waits the attempt ended on."""
    parent_run_id: str | None = None
    """With a final status: the parent to tell (it may be in ctx.trigger_and_wait)."""
    ended_at: datetime | None = None
    """When the attempt ended (engine clock)."""


@dataclass(frozen=True)
class WriteOp:
    """One fenced write of an attempt, as :meth:`Store.write_batch` takes them.

    Exactly one of ``step`` (save a step), ``outcome`` (end the attempt, with
    ``steps``) or ``release_at`` (hand the run back) is set.
    """

    run_id: str
    lease_token: str
    step: StepRecord | None = None
    outcome: Outcome | None = None
    steps: tuple[StepRecord, ...] = ()
    logs: tuple[LogWrite, ...] = ()
    release_at: datetime | None = None


@dataclass(frozen=True)
class StuckRun:
    """A run no worker is taking care of (``tidings doctor``)."""

    id: str
    task_id: str
    queue: str
    status: str
    due_at: datetime
    """Lease expiry of a RUNNING run; due time of a QUEUED or WAITING one."""


@dataclass(frozen=True)
class StuckRuns:
    expired_leases: list[StuckRun]
    """RUNNING runs whose lease expired long ago: no worker reclaimed them."""
    overdue: list[StuckRun]
    """QUEUED or WAITING runs due long ago that no worker picked up."""
    expired_count: int
    overdue_count: int


class Store(NotifyStore):
    """Persistence of runs, steps and logs (and, from NotifyStore, notifications)."""

    url: str

    @abc.abstractmethod
    def migrate(self) -> list[str]:
        """Apply pending migrations (safe with concurrent starters); return those applied."""

    @abc.abstractmethod
    def pending_migrations(self) -> list[str]:
        """Names of migrations not yet applied."""

    @abc.abstractmethod
    def close(self) -> None: ...

    # -- client side -------------------------------------------------------------------
    @abc.abstractmethod
    def create_run(
        self, new: NewRun, now: datetime, idempotency_ttl: timedelta
    ) -> tuple[str, bool]:
        """Insert a run; with an idempotency key already live for the task, return that run.

        Returns ``(run_id, created)``.
        """

    @abc.abstractmethod
    def create_runs(
        self, news: Sequence[NewRun], now: datetime, idempotency_ttl: timedelta
    ) -> list[tuple[str, bool]]:
        """``create_run`` for each of ``news`` in order, in one transaction (all or none).

        A key repeated within ``news`` returns the first of them, as a key already live
        would. Returns ``(run_id, created)`` per item.
        """

    @abc.abstractmethod
    def get_run(self, run_id: str, *, steps: bool = True) -> Run | None: ...

    @abc.abstractmethod
    def list_runs(
        self,
        task_id: str | None = None,
        status: Sequence[RunStatus] | None = None,
        limit: int = 50,
    ) -> list[Run]:
        """Newest first."""

    @abc.abstractmethod
    def cancel_run(self, run_id: str, now: datetime) -> RunStatus | None:
        """Cancel a queued, waiting or running run; return the status it has afterwards."""

    @abc.abstractmethod
    def get_logs(self, run_id: str) -> list[LogEntry]: ...

    @abc.abstractmethod
    def count_runs(self) -> dict[RunStatus, int]: ...

    @abc.abstractmethod
    def send_event(
        self,
        event: NewEvent,
        runs: Sequence[NewRun],
        cancels: Sequence[CancelKey],
        now: datetime,
        idempotency_ttl: timedelta,
    ) -> EventSent:
        """Record an event once (by id), start ``runs``, cancel runs holding one of
        ``cancels``, and resume every run waiting for it, in one transaction."""

    @abc.abstractmethod
    def get_event(self, event_id: str) -> tuple[NewEvent, datetime] | None:
        """An event and when it was received."""

    # -- worker side -------------------------------------------------------------------
    @abc.abstractmethod
    def claim_runs(
        self,
        worker_id: str,
        queues: Sequence[str] | None,
        now: datetime,
        lease_until: datetime,
        limit: int,
        flow: Sequence[FlowLimit] = (),
    ) -> list[ClaimedRun]:
        """Lease up to ``limit`` due runs (queued, due waits, expired leases).

        Runs of the tasks in ``flow`` are claimed only within their limits: one over a
        concurrency limit is parked (queued, no due time) until a slot frees, one over a
        rate limit is queued again for when the window allows.
        """

    @abc.abstractmethod
    def next_due(self, queues: Sequence[str] | None) -> datetime | None:
        """Earliest due time of any active run in these queues."""

    def change_marker(self) -> int | None:
        """A value that changes when another connection commits; None if unsupported.

        Lets an idle worker notice work triggered by another process at once instead
        of at its next poll.
        """
        return None

    def subscribe_wakeups(self, callback: Callable[[], None]) -> Callable[[], None] | None:
        """Have ``callback`` called (on any thread, so it must be quick and thread-safe)
        whenever another connection may have made a run due.

        Returns a function that unsubscribes, or None if this store cannot push
        wake-ups (an idle worker then polls :meth:`change_marker`).
        """
        return None

    @abc.abstractmethod
    def renew_leases(
        self, worker_id: str, run_ids: Sequence[str], lease_until: datetime
    ) -> set[str]:
        """Extend the leases of the runs this worker is executing; return those it holds."""

    @abc.abstractmethod
    def save_step(
        self,
        run_id: str,
        lease_token: str,
        step: StepRecord,
        logs: Sequence[LogWrite] = (),
    ) -> None:
        """Commit a step (and pending log lines); LeaseLostError if the lease is gone."""

    @abc.abstractmethod
    def finish_attempt(
        self,
        run_id: str,
        lease_token: str,
        outcome: Outcome,
        steps: Sequence[StepRecord] = (),
        logs: Sequence[LogWrite] = (),
    ) -> None:
        """End the attempt: set the outcome and release the lease, atomically."""

    def write_batch(self, ops: Sequence[WriteOp]) -> list[Exception | None]:
        """Apply many writes, committed together where the backend can (group commit).

        Returns, per op, None or the error that op met (LeaseLostError when its lease
        is gone); the other ops are unaffected by one op's error.
        """
        results: list[Exception | None] = []
        for op in ops:
            try:
                if op.release_at is not None:
                    self.release(op.run_id, op.lease_token, op.release_at)
                elif op.outcome is not None:
                    self.finish_attempt(op.run_id, op.lease_token, op.outcome, op.steps, op.logs)
                elif op.step is not None:
                    self.save_step(op.run_id, op.lease_token, op.step, op.logs)
                results.append(None)
            except Exception as exc:
                results.append(exc)
        return results

    @abc.abstractmethod
    def release(self, run_id: str, lease_token: str, now: datetime) -> None:
        """Give a run back without counting an attempt (a draining worker)."""

    # -- schedules (cron) --------------------------------------------------------------
    @abc.abstractmethod
    def save_schedule(self, schedule: Schedule, now: datetime) -> Schedule:
        """Insert or update by id, or by key when it has one; a schedule whose cron and
        timezone are unchanged keeps its stored next tick. Returns the stored schedule."""

    @abc.abstractmethod
    def delete_schedule(self, ref: str) -> bool:
        """Delete the schedule with this id or key; False if there was none."""

    @abc.abstractmethod
    def prune_static_schedules(self, keep_task_ids: Sequence[str]) -> None:
        """Delete the static schedules of every task not in ``keep_task_ids``."""

    @abc.abstractmethod
    def list_schedules(self) -> list[Schedule]:
        """Every schedule, soonest next tick first."""

    @abc.abstractmethod
    def due_schedules(self, now: datetime, task_ids: Sequence[str], limit: int) -> list[Schedule]:
        """Schedules of these tasks whose next tick is at or before ``now``."""

    @abc.abstractmethod
    def next_schedule_due(self, task_ids: Sequence[str]) -> datetime | None:
        """The earliest next tick of any schedule of these tasks."""

    @abc.abstractmethod
    def fire_schedule(
        self,
        schedule: Schedule,
        next_run_at: datetime,
        last_run_at: datetime | None,
        runs: Sequence[NewRun],
        now: datetime,
        idempotency_ttl: timedelta,
    ) -> list[str] | None:
        """Claim the ticks from ``schedule.next_run_at`` up to ``next_run_at`` (exclusive)
        with a compare-and-set and create ``runs``, in one transaction.

        Returns the ids of the runs created, or None if another scheduler had already
        moved the schedule on (nothing is created then).
        """

    # -- operations (tidings doctor, tracing) ------------------------------------------
    @abc.abstractmethod
    def get_traceparent(self, run_id: str) -> str | None:
        """The W3C traceparent stored with the run, if it was created under a trace."""

    @abc.abstractmethod
    def database_now(self) -> datetime:
        """The database server's clock (for the clock-skew check)."""

    @abc.abstractmethod
    def stuck_runs(self, lease_before: datetime, due_before: datetime, limit: int) -> StuckRuns:
        """RUNNING runs whose lease expired before ``lease_before`` and QUEUED or WAITING
        runs due before ``due_before``, oldest first, at most ``limit`` of each."""

    # -- HTTP API: API keys, delayed events, run pages, queue metrics ------------------
    @abc.abstractmethod
    def create_api_key(self, key: ApiKeyRecord, key_hash: str) -> None:
        """Store a new key by its hash."""

    @abc.abstractmethod
    def list_api_keys(self, environment: str) -> list[ApiKeyRecord]:
        """The keys of one environment, revoked ones included, oldest first."""

    @abc.abstractmethod
    def find_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        """The key with this hash, of whatever environment (the caller checks it)."""

    @abc.abstractmethod
    def revoke_api_key(self, environment: str, ref: str, now: datetime) -> bool:
        """Revoke the live key of ``environment`` whose id or hint is ``ref``."""

    @abc.abstractmethod
    def schedule_event(self, event: NewEvent, deliver_at: datetime, now: datetime) -> bool:
        """Keep ``event`` for delivery at ``deliver_at``; False if its id was seen."""

    @abc.abstractmethod
    def get_scheduled_event(self, event_id: str) -> tuple[NewEvent, datetime] | None:
        """An event waiting for delivery and its delivery time."""

    @abc.abstractmethod
    def due_scheduled_events(self, now: datetime, limit: int) -> list[tuple[NewEvent, datetime]]:
        """Events whose delivery time has come, soonest first."""

    @abc.abstractmethod
    def next_scheduled_event(self) -> datetime | None:
        """The earliest delivery time of any event waiting for delivery."""

    @abc.abstractmethod
    def deliver_scheduled_event(
        self,
        event: NewEvent,
        runs: Sequence[NewRun],
        cancels: Sequence[CancelKey],
        now: datetime,
        idempotency_ttl: timedelta,
    ) -> EventSent | None:
        """Take the scheduled event and send it as :meth:`send_event` does, in one
        transaction; None if another scheduler took it first (nothing is done)."""

    @abc.abstractmethod
    def drop_scheduled_event(self, event_id: str) -> bool:
        """Forget an event waiting for delivery (it can no longer be delivered)."""

    @abc.abstractmethod
    def list_runs_page(
        self,
        task_id: str | None,
        status: Sequence[RunStatus] | None,
        before: tuple[datetime, str] | None,
        limit: int,
    ) -> list[Run]:
        """Runs newest first, strictly after the cursor ``(created_at, id)`` if given."""

    @abc.abstractmethod
    def reschedule_run(self, run_id: str, run_at: datetime, now: datetime) -> bool:
        """Move a queued run that never started and is due after ``now`` to ``run_at``;
        False if the run is not such a run (or does not exist)."""

    @abc.abstractmethod
    def queue_stats(self, now: datetime) -> tuple[int, datetime | None]:
        """How many queued runs are due at ``now``, and the due time of the oldest."""

    @abc.abstractmethod
    def mark_delivery_sandboxed(self, delivery_id: str) -> None:
        """Record that the sandbox sent this delivery to the outbox."""

    @abc.abstractmethod
    def inbox_marker(self) -> int:
        """A number that changes whenever any inbox changes (a cheap change check)."""

    @abc.abstractmethod
    def inbox_last_seq(self, recipient_id: str) -> int:
        """The latest change-feed sequence number of the recipient's inbox (0: none)."""

    @abc.abstractmethod
    def get_inbox_items(self, recipient_id: str, ids: Sequence[str]) -> list[InboxItem]:
        """The recipient's items among ``ids`` (others' ids are ignored)."""

    # -- dashboard (reads for the web UI, and its few actions) ---------------------------
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
    def set_schedule_paused(
        self, ref: str, paused: bool, next_run_at: datetime | None, now: datetime
    ) -> Schedule | None:
        """Pause or resume the schedule with this id or key; None if there is none."""

    @abc.abstractmethod
    def find_schedule(self, ref: str) -> Schedule | None: ...

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
