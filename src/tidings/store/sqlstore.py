"""Store logic shared by the SQL backends; dialects supply connections and conversions.

A dialect subclass provides :meth:`_transaction` (a context manager yielding a
:class:`Tx`), the named queries, and how times and lists travel to its driver.
"""

from __future__ import annotations

import abc
import json
import uuid
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any, Protocol

from tidings.errors import LeaseLostError, StoreError
from tidings.records import ErrorInfo, LogEntry, Run, RunStatus, Step
from tidings.serde import loads
from tidings.store.base import (
    CancelKey,
    ClaimedRun,
    EventSent,
    FlowLimit,
    LogWrite,
    NewEvent,
    NewRun,
    Outcome,
    StepRecord,
    Store,
    WriteOp,
)
from tidings.store.sqldashboard import SqlDashboard
from tidings.store.sqlevents import SqlEvents, event_json
from tidings.store.sqllimits import SqlSendBudgets
from tidings.store.sqlnotify import SqlNotify
from tidings.store.sqlops import SqlOps
from tidings.store.sqlreceipts import SqlReceipts
from tidings.store.sqlschedules import SqlSchedules
from tidings.store.sqlserver import SqlServer

Row = Mapping[str, Any]
WAIT_KINDS = ("wait_for_event", "trigger_and_wait")


class Tx(Protocol):
    def run(self, query: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        """Execute a named query and return its rows (empty for statements)."""
        ...

    def rowcount(self) -> int:
        """Rows changed by the last statement."""
        ...


class SqlStore(
    SqlEvents,
    SqlSchedules,
    SqlNotify,
    SqlReceipts,
    SqlSendBudgets,
    SqlOps,
    SqlServer,
    SqlDashboard,
    Store,
):
    queries: dict[str, str]

    @abc.abstractmethod
    def _transaction(self, *, write: bool) -> AbstractContextManager[Tx]: ...

    def _autocommit(self, *, write: bool) -> AbstractContextManager[Tx]:
        """For statements each correct on its own (a claim, a one-statement read): where
        the database allows, each commits by itself, without BEGIN and COMMIT round
        trips. By default an ordinary transaction."""
        return self._transaction(write=write)

    def _claim_statements(self, *, write: bool) -> AbstractContextManager[Tx]:
        """For the plain claim and ``next_due``, statements correct on their own: by
        default as :meth:`_autocommit`; a dialect may plan them differently."""
        return self._autocommit(write=write)

    def _pipelined(self) -> AbstractContextManager[Tx]:
        """A write transaction whose statements need not wait for one another: where the
        driver can, BEGIN, every statement whose rows are not read, and COMMIT travel in
        one round trip. By default the ordinary write transaction."""
        return self._transaction(write=True)

    @abc.abstractmethod
    def _ts(self, value: datetime | None) -> Any:
        """A datetime as the driver stores it."""

    @abc.abstractmethod
    def _dt(self, value: Any) -> datetime | None:
        """A stored time back as an aware UTC datetime."""

    @abc.abstractmethod
    def _list(self, values: Sequence[str] | None) -> Any:
        """A list parameter as the dialect's queries expect it."""

    # -- client side -------------------------------------------------------------------
    def create_run(
        self, new: NewRun, now: datetime, idempotency_ttl: timedelta
    ) -> tuple[str, bool]:
        with self._transaction(write=True) as tx:
            return self._insert_run(tx, new, now, idempotency_ttl)

    def create_runs(
        self, news: Sequence[NewRun], now: datetime, idempotency_ttl: timedelta
    ) -> list[tuple[str, bool]]:
        with self._pipelined() as tx:
            return [self._insert_run(tx, new, now, idempotency_ttl) for new in news]

    def _insert_run(
        self, tx: Tx, new: NewRun, now: datetime, idempotency_ttl: timedelta
    ) -> tuple[str, bool]:
        if new.idempotency_key is not None:
            holder = self._reserve_idempotency_key(tx, new, now, idempotency_ttl)
            if holder is not None:
                return holder, False
        tx.run("insert_run", self._run_params(new, now))
        for key in new.cancel_keys:
            tx.run(
                "insert_cancel_key",
                {
                    "event_name": key.event_name,
                    "task_id": key.task_id,
                    "key": key.key,
                    "run_id": new.id,
                },
            )
        if new.concurrency_key is not None or new.rate_key is not None:
            keys = {"concurrency_key": new.concurrency_key, "rate_key": new.rate_key}
            tx.run("set_flow_keys", {"id": new.id, **keys})
        if new.traceparent is not None:
            self._set_traceparent(tx, new.id, new.traceparent)
        return new.id, True

    def _run_params(self, new: NewRun, now: datetime) -> dict[str, Any]:
        return {
            "id": new.id,
            "task_id": new.task_id,
            "queue": new.queue,
            "priority": new.priority,
            "payload": new.payload,
            "now": self._ts(now),
            "run_at": self._ts(new.run_at),
            "idempotency_key": new.idempotency_key,
            "tags": json.dumps(list(new.tags)),
            "replay_of": new.replay_of,
            "parent_run_id": new.parent_run_id,
        }

    def send_event(
        self,
        event: NewEvent,
        runs: Sequence[NewRun],
        cancels: Sequence[CancelKey],
        now: datetime,
        idempotency_ttl: timedelta,
    ) -> EventSent:
        with self._transaction(write=True) as tx:
            return self._send_event_in(tx, event, runs, cancels, now, idempotency_ttl)

    def _send_event_in(
        self,
        tx: Tx,
        event: NewEvent,
        runs: Sequence[NewRun],
        cancels: Sequence[CancelKey],
        now: datetime,
        idempotency_ttl: timedelta,
    ) -> EventSent:
        """The body of :meth:`send_event`, inside a transaction the caller holds."""
        if not self._record_event(tx, event, now):
            first = tx.run("get_event", {"id": event.id})
            return EventSent(event.id, tuple(json.loads(first[0]["run_ids"])), False)
        run_ids = [self._insert_run(tx, new, now, idempotency_ttl)[0] for new in runs]
        if run_ids:
            tx.run("set_event_runs", {"id": event.id, "run_ids": json.dumps(run_ids)})
        cancelled = self._cancel_matching(tx, cancels, now)
        data = json.loads(event.data)
        result = event_json(event.id, event.name, data, event.ts)
        resumed = self._resume_waiters(tx, event.name, data, result, now)
        return EventSent(event.id, tuple(run_ids), True, tuple(cancelled), tuple(resumed))

    def get_event(self, event_id: str) -> tuple[NewEvent, datetime] | None:
        with self._transaction(write=False) as tx:
            rows = tx.run("get_event", {"id": event_id})
        if not rows:
            return None
        r = rows[0]
        event = NewEvent(str(r["id"]), str(r["name"]), str(r["data"]), self._req_dt(r["ts"]))
        return event, self._req_dt(r["received_at"])

    def get_run(self, run_id: str, *, steps: bool = True) -> Run | None:
        with self._transaction(write=False) as tx:
            rows = tx.run("get_run", {"id": run_id})
            if not rows:
                return None
            step_rows = tx.run("get_steps", {"run_id": run_id}) if steps else []
        return self._run(rows[0], [self._public_step(r) for r in step_rows])

    def list_runs(
        self,
        task_id: str | None = None,
        status: Sequence[RunStatus] | None = None,
        limit: int = 50,
    ) -> list[Run]:
        params = {
            "task_id": task_id,
            "statuses": None if status is None else self._list([str(s) for s in status]),
            "limit": limit,
        }
        with self._autocommit(write=False) as tx:
            rows = tx.run("list_runs", params)
        return [self._run(r, []) for r in rows]

    def count_runs(self) -> dict[RunStatus, int]:
        with self._autocommit(write=False) as tx:
            rows = tx.run("count_runs")
        counts = dict.fromkeys(RunStatus, 0)
        counts.update({RunStatus(r["status"]): int(r["n"]) for r in rows})
        return counts

    def cancel_run(self, run_id: str, now: datetime) -> RunStatus | None:
        with self._transaction(write=True) as tx:
            self._cancel_in(tx, run_id, now)
            rows = tx.run("run_status", {"id": run_id})
        return RunStatus(rows[0]["status"]) if rows else None

    def get_logs(self, run_id: str) -> list[LogEntry]:
        with self._transaction(write=False) as tx:
            rows = tx.run("get_logs", {"run_id": run_id})
        return [
            LogEntry(self._req_dt(r["at"]), str(r["level"]), str(r["message"]), int(r["attempt"]))
            for r in rows
        ]

    # -- worker side -------------------------------------------------------------------
    def claim_runs(
        self,
        worker_id: str,
        queues: Sequence[str] | None,
        now: datetime,
        lease_until: datetime,
        limit: int,
        flow: Sequence[FlowLimit] = (),
    ) -> list[ClaimedRun]:
        token = uuid.uuid4().hex
        params = {
            "worker_id": worker_id,
            "token": token,
            "now": self._ts(now),
            "lease_until": self._ts(lease_until),
            "queues": self._list(queues),
            "limit": limit,
        }
        # Without limited tasks the claim is one statement, correct on its own, and the
        # steps of the runs it resumes are theirs alone (only the lease holder writes them).
        claiming = self._transaction(write=True) if flow else self._claim_statements(write=True)
        with claiming as tx:
            if flow:  # the app has limited tasks; without, the plain claim costs nothing more
                rows = self._claim_flow(tx, {**params, "flow": _flow_json(flow)})
                rows = [r for r in rows if r["status"] == "RUNNING"]  # not parked or delayed
            else:
                rows = tx.run("claim_due" if queues is None else "claim_due_in_queues", params)
            if not rows:
                return []
            steps: dict[str, dict[str, StepRecord]] = {str(r["id"]): {} for r in rows}
            # a run never started before has no steps: a first claim needs no second query
            if resumed := [str(r["id"]) for r in rows if not _fresh(r)]:
                for s in tx.run("steps_of_runs", {"run_ids": self._list(resumed)}):
                    steps[str(s["run_id"])][str(s["name"])] = self._step_record(s)
        rows.sort(key=lambda r: (-int(r["priority"]), r["run_at"]))
        return [
            ClaimedRun(
                id=str(r["id"]),
                task_id=str(r["task_id"]),
                payload=str(r["payload"]),
                attempt=int(r["attempt"]),
                body_attempts=int(r["body_attempts"]),
                lease_token=token,
                reclaims=int(r["reclaims"]),
                parent_run_id=r["parent_run_id"],
                steps=steps[str(r["id"])],
            )
            for r in rows
        ]

    def _claim_flow(self, tx: Tx, params: Mapping[str, Any]) -> list[Row]:
        """Claim within flow limits (see ``claim_runs_flow``).

        Correct as one statement where write transactions are serialised (SQLite); a
        dialect whose claimers run concurrently overrides it to serialise them first.
        """
        return tx.run("claim_runs_flow", params)

    def next_due(self, queues: Sequence[str] | None) -> datetime | None:
        with self._claim_statements(write=False) as tx:
            rows = tx.run("next_due", {"queues": self._list(queues)})
        return self._dt(rows[0]["due"]) if rows else None

    def renew_leases(
        self, worker_id: str, run_ids: Sequence[str], lease_until: datetime
    ) -> set[str]:
        params = {
            "worker_id": worker_id,
            "run_ids": self._list(run_ids),
            "lease_until": self._ts(lease_until),
        }
        with self._autocommit(write=True) as tx:
            return {str(r["id"]) for r in tx.run("renew_leases", params)}

    def save_step(
        self,
        run_id: str,
        lease_token: str,
        step: StepRecord,
        logs: Sequence[LogWrite] = (),
    ) -> None:
        with self._transaction(write=True) as tx:
            self._apply(tx, WriteOp(run_id, lease_token, step=step, logs=tuple(logs)))

    def finish_attempt(
        self,
        run_id: str,
        lease_token: str,
        outcome: Outcome,
        steps: Sequence[StepRecord] = (),
        logs: Sequence[LogWrite] = (),
    ) -> None:
        op = WriteOp(run_id, lease_token, outcome=outcome, steps=tuple(steps), logs=tuple(logs))
        with self._transaction(write=True) as tx:
            self._apply(tx, op)

    def release(self, run_id: str, lease_token: str, now: datetime) -> None:
        with self._transaction(write=True) as tx:
            self._apply(tx, WriteOp(run_id, lease_token, release_at=now))

    def write_batch(self, ops: Sequence[WriteOp]) -> list[Exception | None]:
        """One transaction for many attempts' writes; a savepoint isolates each one."""
        results: list[Exception | None] = []
        with self._transaction(write=True) as tx:
            for op in ops:
                tx.run("savepoint")
                try:
                    self._apply(tx, op)
                except (LeaseLostError, StoreError) as exc:
                    tx.run("rollback_to_savepoint")  # if the connection is gone, all fail
                    results.append(exc)
                    continue
                tx.run("release_savepoint")
                results.append(None)
        return results

    def _apply(self, tx: Tx, op: WriteOp) -> None:
        """One fenced write: a step, the end of an attempt, or a release."""
        if op.release_at is not None:
            params = {"run_id": op.run_id, "token": op.lease_token, "now": self._ts(op.release_at)}
            tx.run("release", params)
            return
        if op.outcome is not None:
            tx.run("finish_attempt", self._outcome_params(op.run_id, op.lease_token, op.outcome))
            if tx.rowcount() != 1:
                raise LeaseLostError(f"run {op.run_id} is no longer held by this worker")
        elif not tx.run("check_lease", {"run_id": op.run_id, "token": op.lease_token}):
            raise LeaseLostError(f"run {op.run_id} is no longer held by this worker")
        for step in (op.step,) if op.step is not None else op.steps:
            self._write_step(tx, op.run_id, step)
        self._write_logs(tx, op.run_id, op.logs)
        outcome = op.outcome
        if outcome is None:
            return
        now = outcome.ended_at
        if outcome.waits and now is not None:
            self._register_waits(tx, op.run_id, outcome.waits, now)
        if outcome.parent_run_id and outcome.status.finished and now is not None:
            self._child_finished(
                tx, op.run_id, str(outcome.status), outcome.result, _error_json(outcome.error), now
            )

    def _outcome_params(self, run_id: str, token: str, outcome: Outcome) -> dict[str, Any]:
        return {
            "run_id": run_id,
            "token": token,
            "status": str(outcome.status),
            "due_at": self._ts(outcome.due_at),
            "result": outcome.result,
            "error": _error_json(outcome.error),
            "attempt": outcome.attempt,
            "body_attempts": outcome.body_attempts,
            "finished_at": self._ts(outcome.finished_at),
        }

    # -- helpers -----------------------------------------------------------------------
    def _reserve_idempotency_key(
        self, tx: Tx, new: NewRun, now: datetime, ttl: timedelta
    ) -> str | None:
        """Record ``new``'s key for ``new.id``; return the live run already holding it.

        Correct when write transactions are serialised (SQLite's BEGIN IMMEDIATE); a
        dialect whose writers run concurrently overrides it.
        """
        key = {"task_id": new.task_id, "key": new.idempotency_key, "now": self._ts(now)}
        rows = tx.run("find_idempotent", key)
        if rows:
            return str(rows[0]["run_id"])
        tx.run("upsert_idempotent", {**key, "run_id": new.id, "expires_at": self._ts(now + ttl)})
        return None

    def _write_step(self, tx: Tx, run_id: str, step: StepRecord) -> None:
        if step.kind in WAIT_KINDS and step.status == "completed":
            tx.run("delete_wait", {"run_id": run_id, "step": step.name})  # timed out
        tx.run(
            "upsert_step",
            {
                "run_id": run_id,
                "name": step.name,
                "kind": step.kind,
                "status": step.status,
                "attempts": step.attempts,
                "result": step.result,
                "error": _error_json(step.error),
                "started_at": self._ts(step.started_at),
                "finished_at": self._ts(step.finished_at),
                "wake_at": self._ts(step.wake_at),
            },
        )

    def _write_logs(self, tx: Tx, run_id: str, logs: Sequence[LogWrite]) -> None:
        for line in logs:
            tx.run(
                "insert_log",
                {
                    "run_id": run_id,
                    "at": self._ts(line.at),
                    "level": line.level,
                    "message": line.message,
                    "attempt": line.attempt,
                },
            )

    def _req_dt(self, value: Any) -> datetime:
        result = self._dt(value)
        if result is None:
            raise ValueError("unexpected NULL time")
        return result

    def _step_record(self, r: Row) -> StepRecord:
        return StepRecord(
            name=str(r["name"]),
            kind=str(r["kind"]),
            status=str(r["status"]),
            attempts=int(r["attempts"]),
            result=r["result"],
            error=ErrorInfo.from_json(loads(r["error"])),
            started_at=self._dt(r["started_at"]),
            finished_at=self._dt(r["finished_at"]),
            wake_at=self._dt(r["wake_at"]),
        )

    def _public_step(self, r: Row) -> Step:
        s = self._step_record(r)
        return Step(
            name=s.name,
            kind=s.kind,
            status=s.status,
            attempts=s.attempts,
            result=loads(s.result),
            error=s.error,
            started_at=s.started_at,
            finished_at=s.finished_at,
            wake_at=s.wake_at,
        )

    def _run(self, r: Row, steps: list[Step]) -> Run:
        status = RunStatus(r["status"])
        return Run(
            id=str(r["id"]),
            task_id=str(r["task_id"]),
            status=status,
            payload=loads(r["payload"]),
            result=loads(r["result"]),
            error=ErrorInfo.from_json(loads(r["error"])),
            attempt=int(r["attempt"]),
            created_at=self._req_dt(r["created_at"]),
            started_at=self._dt(r["started_at"]),
            finished_at=self._dt(r["finished_at"]),
            wake_at=self._dt(r["due_at"]) if status is RunStatus.WAITING else None,
            idempotency_key=r["idempotency_key"],
            tags=tuple(json.loads(r["tags"])),
            queue=str(r["queue"]),
            priority=int(r["priority"]),
            run_at=self._dt(r["run_at"]),
            replay_of=r["replay_of"],
            steps=steps,
        )


def _fresh(row: Row) -> bool:
    """Whether a claimed row was never started (the flow claim does not say: False)."""
    return "fresh" in row.keys() and bool(row["fresh"])  # noqa: SIM118 (sqlite3.Row: `in` tests values)


def _flow_json(flow: Sequence[FlowLimit]) -> str:
    """The limits as the claim query reads them (periods in microseconds)."""
    return json.dumps(
        [
            {
                "task": f.task_id,
                "concurrency": f.concurrency,
                "rate": f.rate,
                "period_us": None if f.period is None else f.period // timedelta(microseconds=1),
            }
            for f in flow
        ]
    )


def _error_json(error: ErrorInfo | None) -> str | None:
    return None if error is None else json.dumps(error.to_json())
