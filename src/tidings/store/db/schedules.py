"""Cron schedules over a backend's database object."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta

from tidings.records import Schedule
from tidings.store.db import rows as to
from tidings.store.db.database import Bound
from tidings.store.db.runs import insert_run
from tidings.store.runs import NewRun
from tidings.store.schedules import Schedules


class DbSchedules(Bound, Schedules):
    def save(self, schedule: Schedule, now: datetime) -> Schedule:
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
        return to.schedule(self._db, rows[0])

    def delete(self, ref: str) -> bool:
        with self._transaction(write=True) as tx:
            return bool(tx.run("delete_schedule", {"ref": ref}))

    def prune_static(self, keep_task_ids: Sequence[str]) -> None:
        with self._transaction(write=True) as tx:
            tx.run("prune_static_schedules", {"keep": self._array(keep_task_ids)})

    def all(self) -> list[Schedule]:
        with self._transaction(write=False) as tx:
            rows = tx.run("list_schedules")
        return [to.schedule(self._db, r) for r in rows]

    def due(self, now: datetime, task_ids: Sequence[str], limit: int) -> list[Schedule]:
        params = {"now": self._ts(now), "task_ids": self._array(task_ids), "limit": limit}
        with self._transaction(write=False) as tx:
            rows = tx.run("due_schedules", params)
        return [to.schedule(self._db, r) for r in rows]

    def next_due(self, task_ids: Sequence[str]) -> datetime | None:
        with self._transaction(write=False) as tx:
            rows = tx.run("next_schedule_due", {"task_ids": self._array(task_ids)})
        return self._dt(rows[0]["due"]) if rows else None

    def fire(
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
            created = [insert_run(self._db, tx, new, now, idempotency_ttl) for new in runs]
        return [run_id for run_id, fresh in created if fresh]

    def find(self, ref: str) -> Schedule | None:
        with self._transaction(write=False) as tx:
            rows = tx.run("find_schedule", {"ref": ref})
        return to.schedule(self._db, rows[0]) if rows else None

    def set_paused(
        self, ref: str, paused: bool, next_run_at: datetime | None, now: datetime
    ) -> Schedule | None:
        params = {
            "ref": ref,
            "paused": paused,
            "next_run_at": self._ts(next_run_at),
            "now": self._ts(now),
        }
        with self._transaction(write=True) as tx:
            rows = tx.run("set_schedule_paused", params)
        return to.schedule(self._db, rows[0]) if rows else None
