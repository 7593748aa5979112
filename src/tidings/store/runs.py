"""Runs: creating, reading and cancelling them (client side); claiming, leasing and
writing their steps and outcomes (worker side).

Methods are synchronous and thread-safe: the client API calls them from the caller's
thread, the worker from its database thread. Every time-dependent method takes ``now``
from the engine clock, so the store never reads the wall clock itself.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tidings.records import ErrorInfo, LogEntry, Run, RunStatus


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
    gate: Gate | None = None
    """Debounce, batch or singleton: how this trigger meets the other runs of its key."""


@dataclass(frozen=True)
class Gate:
    """What a trigger of a debounced, batched or singleton task does with its key.

    Debounce and batch: join the key's open run (queued, never started, not yet due) if
    there is one, else open a new one. Singleton: return the key's active run (or cancel
    it) if there is one, else start a new one. The store decides under the key's lock.
    """

    kind: str
    """``"debounce"``, ``"batch"`` or ``"singleton"``."""
    key: str
    """The key value (``""`` when the option has no key)."""
    source: str = ""
    """Debounce and batch: the id of this trigger or of the event behind it."""
    item: str = ""
    """Debounce and batch: this trigger's own payload (JSON), to add to an open run."""
    keep: str = "last"
    """Debounce: which payload the run gets (``"first"``, ``"last"``, ``"all"``); a batch
    keeps all."""
    period: timedelta | None = None
    """Debounce: a trigger moves its run's start to this long after it."""
    max_wait: timedelta | None = None
    """Debounce and batch: the latest start, counted from the run's first trigger."""
    max_size: int | None = None
    """Batch: a run holding this many payloads starts at once and takes no more."""
    cancel: bool = False
    """Singleton: cancel the active run (True) or return it (False)."""


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
    late_by: float | None = None
    """Seconds between the due time of the timer this claim fired (a sleep's end, a
    delayed or scheduled start, a retry) and the claim; None if it fired no timer."""


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
    """One fenced write of an attempt, as :meth:`Runs.write_batch` takes them.

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


class Runs(abc.ABC):
    """``store.runs``: the run table and everything fenced by a run's lease."""

    # -- client side -------------------------------------------------------------------
    @abc.abstractmethod
    def create(
        self,
        new: NewRun,
        now: datetime,
        idempotency_ttl: timedelta,
        cancelled: list[str] | None = None,
    ) -> tuple[str, bool]:
        """Insert a run; with an idempotency key already live for the task, return that run.

        A gated run (``new.gate``) may join or return another run instead. Returns
        ``(run_id, created)``; runs a singleton trigger cancelled are added to
        ``cancelled`` (to interrupt their attempts).
        """

    @abc.abstractmethod
    def create_many(
        self,
        news: Sequence[NewRun],
        now: datetime,
        idempotency_ttl: timedelta,
        cancelled: list[str] | None = None,
    ) -> list[tuple[str, bool]]:
        """``create`` for each of ``news`` in order, in one transaction (all or none).

        A key repeated within ``news`` returns the first of them, as a key already live
        would. Returns ``(run_id, created)`` per item.
        """

    @abc.abstractmethod
    def get(self, run_id: str, *, steps: bool = True) -> Run | None: ...

    @abc.abstractmethod
    def newest(
        self,
        task_id: str | None = None,
        status: Sequence[RunStatus] | None = None,
        limit: int = 50,
    ) -> list[Run]:
        """Newest first."""

    @abc.abstractmethod
    def page(
        self,
        task_id: str | None,
        status: Sequence[RunStatus] | None,
        before: tuple[datetime, str] | None,
        limit: int,
    ) -> list[Run]:
        """Runs newest first, strictly after the cursor ``(created_at, id)`` if given."""

    @abc.abstractmethod
    def cancel(self, run_id: str, now: datetime) -> RunStatus | None:
        """Cancel a queued, waiting or running run; return the status it has afterwards."""

    @abc.abstractmethod
    def reschedule(self, run_id: str, run_at: datetime, now: datetime) -> bool:
        """Move a queued run that never started and is due after ``now`` to ``run_at``;
        False if the run is not such a run (or does not exist)."""

    @abc.abstractmethod
    def logs(self, run_id: str) -> list[LogEntry]: ...

    @abc.abstractmethod
    def count(self) -> dict[RunStatus, int]: ...

    @abc.abstractmethod
    def queue_stats(self, now: datetime) -> tuple[int, datetime | None]:
        """How many queued runs are due at ``now``, and the due time of the oldest."""

    @abc.abstractmethod
    def traceparent(self, run_id: str) -> str | None:
        """The W3C traceparent stored with the run, if it was created under a trace."""

    # -- worker side -------------------------------------------------------------------
    @abc.abstractmethod
    def claim(
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

    @abc.abstractmethod
    def renew_leases(
        self, worker_id: str, run_ids: Sequence[str], lease_until: datetime
    ) -> tuple[set[str], set[str]]:
        """Extend the leases of the runs this worker is executing: ``(renewed, busy)``,
        busy being runs still this worker's whose rows a write held at that moment (not
        renewed this time; never waited for). A run in neither is no longer held."""

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

    @abc.abstractmethod
    def release(self, run_id: str, lease_token: str, now: datetime) -> None:
        """Give a run back without counting an attempt (a draining worker)."""

    @abc.abstractmethod
    def write_batch(self, ops: Sequence[WriteOp]) -> list[Exception | None]:
        """Apply many writes, committed together where the backend can (group commit).

        Returns, per op, None or the error that op met (LeaseLostError when its lease
        is gone); the other ops are unaffected by one op's error.
        """
