"""The one interface every backend implements; the engine never sees SQL.

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


class Store(abc.ABC):
    """Persistence of runs, steps and logs."""

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

    # -- worker side -------------------------------------------------------------------
    @abc.abstractmethod
    def claim_runs(
        self,
        worker_id: str,
        queues: Sequence[str] | None,
        now: datetime,
        lease_until: datetime,
        limit: int,
    ) -> list[ClaimedRun]:
        """Lease up to ``limit`` due runs (queued, due waits, expired leases)."""

    @abc.abstractmethod
    def next_due(self, queues: Sequence[str] | None) -> datetime | None:
        """Earliest due time of any active run in these queues."""

    def change_marker(self) -> int | None:
        """A value that changes when another connection commits; None if unsupported.

        Lets an idle worker notice work triggered by another process at once instead
        of at its next poll.
        """
        return None

    @abc.abstractmethod
    def renew_leases(self, worker_id: str, lease_until: datetime) -> set[str]:
        """Extend every lease this worker holds; return the ids it still holds."""

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
