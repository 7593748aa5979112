"""Group commit on PostgreSQL: many attempts' writes in a few set-based statements.

The shared :meth:`DbRuns.write_batch` runs each write's statements under a savepoint:
on PostgreSQL every statement, savepoint and release is a round trip, so a batch of ten
attempt ends cost some thirty. Here the common writes (an attempt's end with the step
records it carries, a completed step) go in two statements for the whole batch,
``finish_attempts`` and ``save_steps`` (batch.sql), each fenced by lease tokens as the
one-by-one statements are; the rest (log lines, event waits, a parent to tell, a
completed wait, a release) take the shared per-write path in the same transaction.

No savepoints are needed on the way: a lost lease is found by a write's fence before
anything of it is written. Only if a statement fails (not the connection: that fails
every write anyway) is the transaction rolled back whole and the batch redone by the
shared, savepoint-isolated path, so one write's error never takes the others down.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg

from tidings.errors import LeaseLostError, StoreError
from tidings.store.db.database import Tx
from tidings.store.db.runs import WAIT_KINDS, DbRuns
from tidings.store.runs import StepRecord, WriteOp


class _Isolate(Exception):
    """A statement of a batch failed: redo the batch with a savepoint per write."""


class GroupCommit(DbRuns):
    """``write_batch`` in set-based statements (mixed into PostgresRuns)."""

    def write_batch(self, ops: Sequence[WriteOp]) -> list[Exception | None]:
        if len(ops) == 1 and _one_statement(ops[0]):
            # a lone write that is one fenced UPDATE commits by itself: one round trip
            try:
                with self._autocommit(write=True) as tx:
                    self._apply(tx, ops[0])
            except (LeaseLostError, StoreError) as exc:
                return [exc]
            return [None]
        try:
            return self._write_grouped(ops)
        except _Isolate:
            return super().write_batch(ops)

    def _write_grouped(self, ops: Sequence[WriteOp]) -> list[Exception | None]:
        results: list[Exception | None] = [None] * len(ops)
        ends = [i for i, op in enumerate(ops) if _grouped_end(op)]
        steps = [i for i, op in enumerate(ops) if _grouped_step(op)]
        rest = sorted(set(range(len(ops))) - set(ends) - set(steps))
        with self._transaction(write=True) as tx:
            try:
                ended = self._finish_attempts(tx, [ops[i] for i in ends])
                rows = [_step_row(ops[i].run_id, ops[i].step, ops[i].lease_token) for i in steps]
                rows += [
                    _step_row(ops[i].run_id, step, None)
                    for i in ends
                    if ops[i].run_id in ended
                    for step in ops[i].steps
                ]
                saved = self._save_steps(tx, rows)
                for i in ends:
                    if ops[i].run_id not in ended:
                        results[i] = _lost(ops[i])
                for i in steps:
                    if ops[i].run_id not in saved:
                        results[i] = _lost(ops[i])
                for i in rest:
                    try:
                        self._apply(tx, ops[i])
                    except LeaseLostError as exc:  # from its fence: nothing was written
                        results[i] = exc
            except StoreError as exc:
                if isinstance(exc.__cause__, psycopg.OperationalError):
                    raise  # the connection: every write fails, as it would anyway
                raise _Isolate from exc  # rolls the transaction back
        return results

    def _finish_attempts(self, tx: Tx, ops: list[WriteOp]) -> set[str]:
        if not ops:
            return set()
        rows = []
        for op in ops:
            assert op.outcome is not None
            params = self._outcome_params(op.run_id, op.lease_token, op.outcome)
            rows.append({k: _jsonable(v) for k, v in params.items()})
        return {str(r["id"]) for r in tx.run("finish_attempts", {"ops": json.dumps(rows)})}

    def _save_steps(self, tx: Tx, rows: list[dict[str, Any]]) -> set[str]:
        if not rows:
            return set()
        for n, row in enumerate(rows):
            row["ord"] = n
        return {str(r["run_id"]) for r in tx.run("save_steps", {"steps": json.dumps(rows)})}


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _step_row(run_id: str, step: StepRecord | None, token: str | None) -> dict[str, Any]:
    assert step is not None
    return {
        "run_id": run_id,
        "token": token,
        "name": step.name,
        "kind": step.kind,
        "status": step.status,
        "attempts": step.attempts,
        "result": step.result,
        "error": None if step.error is None else json.dumps(step.error.to_json()),
        "started_at": _jsonable(step.started_at),
        "finished_at": _jsonable(step.finished_at),
        "wake_at": _jsonable(step.wake_at),
    }


def _lost(op: WriteOp) -> LeaseLostError:
    return LeaseLostError(f"run {op.run_id} is no longer held by this worker")


def _plain_step(step: StepRecord) -> bool:
    """Not a completed wait, whose registration must also be deleted (per-write path)."""
    return not (step.kind in WAIT_KINDS and step.status == "completed")


def _grouped_end(op: WriteOp) -> bool:
    outcome = op.outcome
    return (
        outcome is not None
        and not op.logs
        and not outcome.waits
        and not (outcome.parent_run_id and outcome.status.finished)
        and all(_plain_step(s) for s in op.steps)
    )


def _grouped_step(op: WriteOp) -> bool:
    return op.step is not None and op.outcome is None and not op.logs and _plain_step(op.step)


def _one_statement(op: WriteOp) -> bool:
    """Whether ``op`` is written by one fenced UPDATE (an end of attempt with nothing
    else to record, or a release)."""
    return op.release_at is not None or (_grouped_end(op) and not op.steps)
