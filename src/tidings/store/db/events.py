"""Events over a backend's database object: sending (fan-out, cancel-on, resuming
waits) in one transaction, and delayed events."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta

from tidings.store.db.database import Bound, Row, Tx
from tidings.store.db.gates import Gates
from tidings.store.db.runs import cancel_in, insert_run
from tidings.store.db.waits import event_json, record_event, resume_waiters
from tidings.store.events import Events, EventSent, NewEvent
from tidings.store.runs import CancelKey, NewRun


class DbEvents(Bound, Events):
    def send(
        self,
        event: NewEvent,
        runs: Sequence[NewRun],
        cancels: Sequence[CancelKey],
        now: datetime,
        idempotency_ttl: timedelta,
    ) -> EventSent:
        with self._transaction(write=True) as tx:
            return self._send_in(tx, event, runs, cancels, now, idempotency_ttl)

    def _send_in(
        self,
        tx: Tx,
        event: NewEvent,
        runs: Sequence[NewRun],
        cancels: Sequence[CancelKey],
        now: datetime,
        idempotency_ttl: timedelta,
    ) -> EventSent:
        """The body of :meth:`send`, inside a transaction the caller holds."""
        db = self._db
        if not record_event(db, tx, event, now):
            first = tx.run("get_event", {"id": event.id})
            return EventSent(event.id, tuple(json.loads(first[0]["run_ids"])), False)
        gates = Gates.prefetch(db, tx, runs)
        cancelled: list[str] = []
        run_ids = [
            insert_run(db, tx, new, now, idempotency_ttl, cancelled, gates)[0] for new in runs
        ]
        if run_ids:
            tx.run("set_event_runs", {"id": event.id, "run_ids": json.dumps(run_ids)})
        cancelled += self._cancel_matching(tx, cancels, now)
        data = json.loads(event.data)
        result = event_json(event.id, event.name, data, event.ts)
        resumed = resume_waiters(db, tx, event.name, data, result, now)
        return EventSent(event.id, tuple(run_ids), True, tuple(cancelled), tuple(resumed))

    def _cancel_matching(self, tx: Tx, cancels: Sequence[CancelKey], now: datetime) -> list[str]:
        cancelled: list[str] = []
        for cancel in cancels:
            params = {"event_name": cancel.event_name, "task_id": cancel.task_id, "key": cancel.key}
            for row in tx.run("find_cancel_keys", params):
                if cancel_in(self._db, tx, str(row["run_id"]), now):
                    cancelled.append(str(row["run_id"]))
        return cancelled

    def get(self, event_id: str) -> tuple[NewEvent, datetime] | None:
        with self._transaction(write=False) as tx:
            rows = tx.run("get_event", {"id": event_id})
        if not rows:
            return None
        r = rows[0]
        event = NewEvent(str(r["id"]), str(r["name"]), str(r["data"]), self._req(r["ts"]))
        return event, self._req(r["received_at"])

    # -- delayed events ----------------------------------------------------------------
    def schedule(self, event: NewEvent, deliver_at: datetime, now: datetime) -> bool:
        params = {
            "id": event.id,
            "name": event.name,
            "data": event.data,
            "ts": self._ts(event.ts),
            "deliver_at": self._ts(deliver_at),
            "now": self._ts(now),
        }
        with self._transaction(write=True) as tx:
            tx.run("insert_scheduled_event", params)
            return tx.rowcount() == 1

    def get_scheduled(self, event_id: str) -> tuple[NewEvent, datetime] | None:
        with self._transaction(write=False) as tx:
            rows = tx.run("get_scheduled_event", {"id": event_id})
        return self._scheduled(rows[0]) if rows else None

    def due_scheduled(self, now: datetime, limit: int) -> list[tuple[NewEvent, datetime]]:
        with self._transaction(write=False) as tx:
            rows = tx.run("due_scheduled_events", {"now": self._ts(now), "limit": limit})
        return [self._scheduled(r) for r in rows]

    def next_scheduled(self) -> datetime | None:
        with self._transaction(write=False) as tx:
            rows = tx.run("next_scheduled_event")
        return self._dt(rows[0]["due"]) if rows else None

    def deliver_scheduled(
        self,
        event: NewEvent,
        runs: Sequence[NewRun],
        cancels: Sequence[CancelKey],
        now: datetime,
        idempotency_ttl: timedelta,
    ) -> EventSent | None:
        with self._transaction(write=True) as tx:
            tx.run("take_scheduled_event", {"id": event.id})
            if tx.rowcount() != 1:
                return None  # another scheduler delivered it
            return self._send_in(tx, event, runs, cancels, now, idempotency_ttl)

    def drop_scheduled(self, event_id: str) -> bool:
        with self._transaction(write=True) as tx:
            tx.run("take_scheduled_event", {"id": event_id})
            return tx.rowcount() == 1

    def _scheduled(self, r: Row) -> tuple[NewEvent, datetime]:
        event = NewEvent(str(r["id"]), str(r["name"]), str(r["data"]), self._req(r["ts"]))
        return event, self._req(r["deliver_at"])
