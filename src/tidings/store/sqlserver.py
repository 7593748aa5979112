"""What the HTTP API needs from the SQL stores: API keys, delayed events, run pages and
queue metrics.

Kept apart from sqlstore.py: a mixin using the store's transactions, conversions and
event sending, with its own named queries (``server.sql`` of each dialect).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tidings.records import Run, RunStatus
from tidings.store.base import ApiKeyRecord, CancelKey, EventSent, NewEvent, NewRun

if TYPE_CHECKING:
    from tidings.notify.records import InboxItem
    from tidings.store.sqlstore import Row, Tx


class SqlServer(abc.ABC):
    """Mixed into SqlStore, which supplies transactions, conversions and event sending."""

    @abc.abstractmethod
    def _transaction(self, *, write: bool) -> AbstractContextManager[Tx]: ...

    @abc.abstractmethod
    def _ts(self, value: datetime | None) -> Any: ...

    @abc.abstractmethod
    def _dt(self, value: Any) -> datetime | None: ...

    @abc.abstractmethod
    def _req_dt(self, value: Any) -> datetime: ...

    @abc.abstractmethod
    def _list(self, values: Sequence[str] | None) -> Any: ...

    @abc.abstractmethod
    def _run(self, r: Row, steps: list[Any]) -> Run: ...

    @abc.abstractmethod
    def _inbox_item(self, r: Row) -> InboxItem: ...

    @abc.abstractmethod
    def _send_event_in(
        self,
        tx: Tx,
        event: NewEvent,
        runs: Sequence[NewRun],
        cancels: Sequence[CancelKey],
        now: datetime,
        idempotency_ttl: timedelta,
    ) -> EventSent: ...

    # -- API keys ----------------------------------------------------------------------
    def create_api_key(self, key: ApiKeyRecord, key_hash: str) -> None:
        params = {
            "id": key.id,
            "environment": key.environment,
            "name": key.name,
            "scope": key.scope,
            "key_hash": key_hash,
            "hint": key.hint,
            "now": self._ts(key.created_at),
        }
        with self._transaction(write=True) as tx:
            tx.run("insert_api_key", params)

    def list_api_keys(self, environment: str) -> list[ApiKeyRecord]:
        with self._transaction(write=False) as tx:
            rows = tx.run("list_api_keys", {"environment": environment})
        return [self._api_key(r) for r in rows]

    def find_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        with self._transaction(write=False) as tx:
            rows = tx.run("find_api_key", {"key_hash": key_hash})
        return self._api_key(rows[0]) if rows else None

    def revoke_api_key(self, environment: str, ref: str, now: datetime) -> bool:
        params = {"environment": environment, "ref": ref, "now": self._ts(now)}
        with self._transaction(write=True) as tx:
            return bool(tx.run("revoke_api_key", params))

    def _api_key(self, r: Row) -> ApiKeyRecord:
        return ApiKeyRecord(
            id=str(r["id"]),
            environment=str(r["environment"]),
            name=str(r["name"]),
            scope=str(r["scope"]),
            hint=str(r["hint"]),
            created_at=self._req_dt(r["created_at"]),
            revoked_at=self._dt(r["revoked_at"]),
        )

    # -- delayed events ----------------------------------------------------------------
    def schedule_event(self, event: NewEvent, deliver_at: datetime, now: datetime) -> bool:
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

    def get_scheduled_event(self, event_id: str) -> tuple[NewEvent, datetime] | None:
        with self._transaction(write=False) as tx:
            rows = tx.run("get_scheduled_event", {"id": event_id})
        return self._scheduled(rows[0]) if rows else None

    def due_scheduled_events(self, now: datetime, limit: int) -> list[tuple[NewEvent, datetime]]:
        with self._transaction(write=False) as tx:
            rows = tx.run("due_scheduled_events", {"now": self._ts(now), "limit": limit})
        return [self._scheduled(r) for r in rows]

    def next_scheduled_event(self) -> datetime | None:
        with self._transaction(write=False) as tx:
            rows = tx.run("next_scheduled_event")
        return self._dt(rows[0]["due"]) if rows else None

    def deliver_scheduled_event(
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
            return self._send_event_in(tx, event, runs, cancels, now, idempotency_ttl)

    def drop_scheduled_event(self, event_id: str) -> bool:
        with self._transaction(write=True) as tx:
            tx.run("take_scheduled_event", {"id": event_id})
            return tx.rowcount() == 1

    def _scheduled(self, r: Row) -> tuple[NewEvent, datetime]:
        event = NewEvent(str(r["id"]), str(r["name"]), str(r["data"]), self._req_dt(r["ts"]))
        return event, self._req_dt(r["deliver_at"])

    # -- runs and metrics --------------------------------------------------------------
    def list_runs_page(
        self,
        task_id: str | None,
        status: Sequence[RunStatus] | None,
        before: tuple[datetime, str] | None,
        limit: int,
    ) -> list[Run]:
        params = {
            "task_id": task_id,
            "statuses": None if status is None else self._list([str(s) for s in status]),
            "before_created": None if before is None else self._ts(before[0]),
            "before_id": None if before is None else before[1],
            "limit": limit,
        }
        with self._transaction(write=False) as tx:
            rows = tx.run("list_runs_page", params)
        return [self._run(r, []) for r in rows]

    def reschedule_run(self, run_id: str, run_at: datetime, now: datetime) -> bool:
        params = {"id": run_id, "run_at": self._ts(run_at), "now": self._ts(now)}
        with self._transaction(write=True) as tx:
            tx.run("reschedule_run", params)
            return tx.rowcount() == 1

    def queue_stats(self, now: datetime) -> tuple[int, datetime | None]:
        with self._transaction(write=False) as tx:
            rows = tx.run("queue_stats", {"now": self._ts(now)})
        return int(rows[0]["depth"]), self._dt(rows[0]["oldest"])

    # -- notifications: sandbox and inbox streams --------------------------------------
    def mark_delivery_sandboxed(self, delivery_id: str) -> None:
        with self._transaction(write=True) as tx:
            tx.run("mark_delivery_sandboxed", {"id": delivery_id})

    def inbox_marker(self) -> int:
        with self._transaction(write=False) as tx:
            rows = tx.run("inbox_marker")
        return int(rows[0]["marker"])

    def inbox_last_seq(self, recipient_id: str) -> int:
        with self._transaction(write=False) as tx:
            rows = tx.run("inbox_last_seq", {"recipient_id": recipient_id})
        return int(rows[0]["seq"]) if rows else 0

    def get_inbox_items(self, recipient_id: str, ids: Sequence[str]) -> list[InboxItem]:
        params = {"recipient_id": recipient_id, "ids": self._list(list(ids))}
        with self._transaction(write=False) as tx:
            rows = tx.run("get_inbox_items", params)
        return [self._inbox_item(r) for r in rows]
