"""Runs over a backend's database object: creating, claiming, fenced writes.

:func:`insert_run` and :func:`cancel_in` are shared with the concepts that create or
cancel runs inside their own transaction (events, schedules, notifications).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from tidings.errors import LeaseLostError, StoreError
from tidings.records import LogEntry, Run, RunStatus
from tidings.store.db import rows as to
from tidings.store.db.database import Bound, Database, Row, Tx
from tidings.store.db.gates import Gates, pass_gate
from tidings.store.db.waits import child_finished, register_waits
from tidings.store.runs import (
    ClaimedRun,
    FlowLimit,
    LogWrite,
    NewRun,
    Outcome,
    Runs,
    StepRecord,
    WriteOp,
)

WAIT_KINDS = ("wait_for_event", "trigger_and_wait", "wait_for_token")


def insert_run(
    db: Database,
    tx: Tx,
    new: NewRun,
    now: datetime,
    idempotency_ttl: timedelta,
    cancelled: list[str] | None = None,
    gates: Gates | None = None,
) -> tuple[str, bool]:
    """Insert ``new`` inside ``tx``; with its idempotency key live, the run holding it.

    A gated run (debounce, batch, singleton) may instead join or return the run its key
    holds (then that run, not created); runs a singleton trigger cancels are added to
    ``cancelled``. ``gates``: the transaction's gates, when it prefetched them.
    """
    if new.idempotency_key is not None:
        holder = _reserve_idempotency_key(db, tx, new, now, idempotency_ttl)
        if holder is not None:
            return holder, False
    if new.gate is not None:
        gates = gates or Gates(db, tx)
        joined = pass_gate(gates, new, now, cancelled, cancel_in)
        if joined is not None:
            if new.idempotency_key is not None:
                held = {"task_id": new.task_id, "key": new.idempotency_key, "run_id": joined}
                if new.gate.kind == "singleton":  # skipped: a later trigger may use the key
                    tx.run("release_idempotent", {**held, "run_id": new.id})
                else:  # the key now names the run that holds its payload
                    tx.run("repoint_idempotent", held)
            return joined, False
    tx.run("insert_run", run_params(db, new, now))
    if gates is not None:
        gates.inserted(new, now)
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
        tx.run("set_traceparent", {"id": new.id, "traceparent": new.traceparent})
    return new.id, True


def _reserve_idempotency_key(
    db: Database, tx: Tx, new: NewRun, now: datetime, ttl: timedelta
) -> str | None:
    """Record ``new``'s key for ``new.id``; return the live run already holding it."""
    key = {"task_id": new.task_id, "key": new.idempotency_key, "now": db.ts(now)}
    expires = db.ts(now + ttl)
    if db.concurrent_writers:  # check and write must be one statement
        rows = tx.run("reserve_idempotent", {**key, "run_id": new.id, "expires_at": expires})
        holder = str(rows[0]["run_id"])
        return None if holder == new.id else holder
    rows = tx.run("find_idempotent", key)
    if rows:
        return str(rows[0]["run_id"])
    tx.run("upsert_idempotent", {**key, "run_id": new.id, "expires_at": expires})
    return None


def cancel_in(db: Database, tx: Tx, run_id: str, now: datetime) -> bool:
    """Cancel an active run inside ``tx``; tell a waiting parent. False if finished."""
    tx.run("cancel_run", {"id": run_id, "now": db.ts(now)})
    if tx.rowcount() != 1:
        return False
    tx.run("delete_run_waits", {"run_id": run_id})
    tx.run("delete_run_cancel_keys", {"run_id": run_id})
    rows = tx.run("run_parent", {"id": run_id})
    if rows and rows[0]["parent_run_id"]:
        child_finished(db, tx, run_id, "CANCELLED", None, None, now)
    return True


def run_params(db: Database, new: NewRun, now: datetime) -> dict[str, Any]:
    return {
        "id": new.id,
        "task_id": new.task_id,
        "queue": new.queue,
        "priority": new.priority,
        "payload": new.payload,
        "now": db.ts(now),
        "run_at": db.ts(new.run_at),
        "idempotency_key": new.idempotency_key,
        "tags": json.dumps(list(new.tags)),
        "replay_of": new.replay_of,
        "parent_run_id": new.parent_run_id,
    }


class DbRuns(Bound, Runs):
    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self._claim_statements = db.claim_statements
        self._pipelined = db.pipelined

    # -- client side -------------------------------------------------------------------
    def create(
        self,
        new: NewRun,
        now: datetime,
        idempotency_ttl: timedelta,
        cancelled: list[str] | None = None,
    ) -> tuple[str, bool]:
        with self._transaction(write=True) as tx:
            return insert_run(self._db, tx, new, now, idempotency_ttl, cancelled)

    def create_many(
        self,
        news: Sequence[NewRun],
        now: datetime,
        idempotency_ttl: timedelta,
        cancelled: list[str] | None = None,
    ) -> list[tuple[str, bool]]:
        db = self._db
        with self._pipelined() as tx:
            gates = Gates.prefetch(db, tx, news)
            return [insert_run(db, tx, new, now, idempotency_ttl, cancelled, gates) for new in news]

    def get(self, run_id: str, *, steps: bool = True) -> Run | None:
        with self._transaction(write=False) as tx:
            rows = tx.run("get_run", {"id": run_id})
            if not rows:
                return None
            step_rows = tx.run("get_steps", {"run_id": run_id}) if steps else []
            # a store not migrated to 0016 yet (a rolling deploy) has no "coalesced"
            coalesced = rows[0]["coalesced"] if "coalesced" in rows[0].keys() else None  # noqa: SIM118
            sources = (
                [str(r["source_id"]) for r in tx.run("run_sources", {"run_id": run_id})]
                if coalesced is not None
                else []
            )
        run = to.run(self._db, rows[0], [to.public_step(self._db, r) for r in step_rows])
        return replace(run, coalesced_ids=tuple(sources)) if sources else run

    def newest(
        self,
        task_id: str | None = None,
        status: Sequence[RunStatus] | None = None,
        limit: int = 50,
    ) -> list[Run]:
        params = {
            "task_id": task_id,
            "statuses": None if status is None else self._array([str(s) for s in status]),
            "limit": limit,
        }
        with self._autocommit(write=False) as tx:
            rows = tx.run("list_runs", params)
        return [to.run(self._db, r, []) for r in rows]

    def page(
        self,
        task_id: str | None,
        status: Sequence[RunStatus] | None,
        before: tuple[datetime, str] | None,
        limit: int,
    ) -> list[Run]:
        params = {
            "task_id": task_id,
            "statuses": None if status is None else self._array([str(s) for s in status]),
            "before_created": None if before is None else self._ts(before[0]),
            "before_id": None if before is None else before[1],
            "limit": limit,
        }
        with self._transaction(write=False) as tx:
            rows = tx.run("list_runs_page", params)
        return [to.run(self._db, r, []) for r in rows]

    def count(self) -> dict[RunStatus, int]:
        with self._autocommit(write=False) as tx:
            rows = tx.run("count_runs")
        counts = dict.fromkeys(RunStatus, 0)
        counts.update({RunStatus(r["status"]): int(r["n"]) for r in rows})
        return counts

    def cancel(self, run_id: str, now: datetime) -> RunStatus | None:
        with self._transaction(write=True) as tx:
            cancel_in(self._db, tx, run_id, now)
            rows = tx.run("run_status", {"id": run_id})
        return RunStatus(rows[0]["status"]) if rows else None

    def reschedule(self, run_id: str, run_at: datetime, now: datetime) -> bool:
        params = {"id": run_id, "run_at": self._ts(run_at), "now": self._ts(now)}
        with self._transaction(write=True) as tx:
            tx.run("reschedule_run", params)
            return tx.rowcount() == 1

    def logs(self, run_id: str) -> list[LogEntry]:
        with self._transaction(write=False) as tx:
            rows = tx.run("get_logs", {"run_id": run_id})
        return [
            LogEntry(self._req(r["at"]), str(r["level"]), str(r["message"]), int(r["attempt"]))
            for r in rows
        ]

    def queue_stats(self, now: datetime) -> tuple[int, datetime | None]:
        with self._transaction(write=False) as tx:
            rows = tx.run("queue_stats", {"now": self._ts(now)})
        return int(rows[0]["depth"]), self._dt(rows[0]["oldest"])

    def traceparent(self, run_id: str) -> str | None:
        with self._transaction(write=False) as tx:
            rows = tx.run("get_traceparent", {"id": run_id})
        return str(rows[0]["traceparent"]) if rows and rows[0]["traceparent"] else None

    # -- worker side -------------------------------------------------------------------
    def claim(
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
            "queues": self._array(queues),
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
                for s in tx.run("steps_of_runs", {"run_ids": self._array(resumed)}):
                    steps[str(s["run_id"])][str(s["name"])] = to.step_record(self._db, s)
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
                late_by=_late_by(self._dt(r["timer_due_at"]), now),
            )
            for r in rows
        ]

    def _claim_flow(self, tx: Tx, params: Mapping[str, Any]) -> list[Row]:
        """Claim within flow limits (see ``claim_runs_flow``).

        Correct as one statement where write transactions are serialised (SQLite); a
        backend whose claimers run concurrently overrides it to serialise them first.
        """
        return tx.run("claim_runs_flow", params)

    def next_due(self, queues: Sequence[str] | None) -> datetime | None:
        with self._claim_statements(write=False) as tx:
            rows = tx.run("next_due", {"queues": self._array(queues)})
        return self._dt(rows[0]["due"]) if rows else None

    def renew_leases(
        self, worker_id: str, run_ids: Sequence[str], lease_until: datetime
    ) -> tuple[set[str], set[str]]:
        params = {
            "worker_id": worker_id,
            "run_ids": self._array(run_ids),
            "lease_until": self._ts(lease_until),
        }
        with self._autocommit(write=True) as tx:
            rows = tx.run("renew_leases", params)
        renewed: set[str] = set()
        busy: set[str] = set()
        for r in rows:
            (renewed if r["renewed"] else busy).add(str(r["id"]))
        return renewed, busy

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
            register_waits(self._db, tx, op.run_id, outcome.waits, now)
        if outcome.parent_run_id and outcome.status.finished and now is not None:
            error = to.error_json(outcome.error)
            status = str(outcome.status)
            child_finished(self._db, tx, op.run_id, status, outcome.result, error, now)

    def _outcome_params(self, run_id: str, token: str, outcome: Outcome) -> dict[str, Any]:
        return {
            "run_id": run_id,
            "token": token,
            "status": str(outcome.status),
            "due_at": self._ts(outcome.due_at),
            "result": outcome.result,
            "error": to.error_json(outcome.error),
            "attempt": outcome.attempt,
            "body_attempts": outcome.body_attempts,
            "finished_at": self._ts(outcome.finished_at),
        }

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
                "error": to.error_json(step.error),
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


def _late_by(due: datetime | None, claimed: datetime) -> float | None:
    """How late a timer fired: never negative (a due time a hair after the claim's
    ``now`` is a clock read apart, not early)."""
    return None if due is None else max((claimed - due).total_seconds(), 0.0)


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
