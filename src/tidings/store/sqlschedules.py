"""Cron schedules in the SQL stores.

Kept apart from sqlstore.py: a mixin that reaches the store's transactions, conversions
and run insertion through the abstract methods below, and its own named queries (the
"schedules" section at the end of each dialect's queries.sql).
"""

from __future__ import annotations

import abc
import json
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tidings.records import Schedule
from tidings.serde import loads
from tidings.store.base import NewRun

if TYPE_CHECKING:
    from tidings.store.sqlstore import Tx


class SqlSchedules(abc.ABC):
    """Mixed into SqlStore, which supplies transactions, conversions and run inserts."""

    @abc.abstractmethod
    def _transaction(self, *, write: bool) -> AbstractContextManager[Tx]: ...

    @abc.abstractmethod
    def _ts(self, value: datetime | None) -> Any: ...

    @abc.abstractmethod
    def _dt(self, value: Any) -> datetime | None: ...

    @abc.abstractmethod
    def _list(self, values: Sequence[str] | None) -> Any: ...

    @abc.abstractmethod
    def _insert_run(
        self, tx: Tx, new: NewRun, now: datetime, idempotency_ttl: timedelta
    ) -> tuple[str, bool]: ...

    def save_schedule(self, schedule: Schedule, now: datetime) -> Schedule:
        params = {
            "id": schedule.id,
            "task_id": schedule.task_id,
            "kind": "static" if schedule.static else "dynamic",
            "cron": schedule.cron,
            "timezone": schedule.timezone,
            "key": schedule.key,
            "payload": json.dumps(schedule.payload),
            "catch_up": schedule.catch_up,
            "next_run_at": self._ts(schedule.next_run_at),
            "now": self._ts(now),
        }
        query = "upsert_schedule_by_id" if schedule.key is None else "upsert_schedule_by_key"
        with self._transaction(write=True) as tx:
            rows = tx.run(query, params)
        return self._schedule(rows[0])

    def delete_schedule(self, ref: str) -> bool:
        with self._transaction(write=True) as tx:
            return bool(tx.run("delete_schedule", {"ref": ref}))

    def prune_static_schedules(self, keep_task_ids: Sequence[str]) -> None:
        with self._transaction(write=True) as tx:
            tx.run("prune_static_schedules", {"keep": self._list(keep_task_ids)})

    def list_schedules(self) -> list[Schedule]:
        with self._transaction(write=False) as tx:
            rows = tx.run("list_schedules")
        return [self._schedule(r) for r in rows]

    def due_schedules(self, now: datetime, task_ids: Sequence[str], limit: int) -> list[Schedule]:
        params = {"now": self._ts(now), "task_ids": self._list(task_ids), "limit": limit}
        with self._transaction(write=False) as tx:
            rows = tx.run("due_schedules", params)
        return [self._schedule(r) for r in rows]

    def next_schedule_due(self, task_ids: Sequence[str]) -> datetime | None:
        with self._transaction(write=False) as tx:
            rows = tx.run("next_schedule_due", {"task_ids": self._list(task_ids)})
        return self._dt(rows[0]["due"]) if rows else None

    def fire_schedule(
        self,
        schedule: Schedule,
        next_run_at: datetime,
        last_run_at: datetime | None,
        runs: Sequence[NewRun],
        now: datetime,
        idempotency_ttl: timedelta,
    ) -> list[str] | None:
        params = {
            "id": schedule.id,
            "due": self._ts(schedule.next_run_at),
            "next_run_at": self._ts(next_run_at),
            "last_run_at": self._ts(last_run_at),
            "now": self._ts(now),
        }
        with self._transaction(write=True) as tx:
            tx.run("advance_schedule", params)
            if tx.rowcount() != 1:
                return None  # another scheduler fired this tick, or the schedule is gone
            created = [self._insert_run(tx, new, now, idempotency_ttl) for new in runs]
        return [run_id for run_id, fresh in created if fresh]

    def _schedule(self, r: Mapping[str, Any]) -> Schedule:
        next_run_at = self._dt(r["next_run_at"])
        assert next_run_at is not None
        return Schedule(
            id=str(r["id"]),
            task_id=str(r["task_id"]),
            cron=str(r["cron"]),
            timezone=str(r["timezone"]),
            key=r["key"],
            payload=loads(r["payload"]),
            next_run_at=next_run_at,
            last_run_at=self._dt(r["last_run_at"]),
            catch_up=str(r["catch_up"]),
            static=r["kind"] == "static",
            paused=bool(r["paused"]),
        )
