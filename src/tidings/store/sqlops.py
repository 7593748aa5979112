"""Operations in the SQL stores: trace context, and what ``tidings doctor`` asks.

A mixin like sqlevents.py: its queries live in each dialect's ``ops.sql``, which the
dialect loads beside ``queries.sql``.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tidings.store.base import StuckRun, StuckRuns

if TYPE_CHECKING:
    from tidings.store.sqlstore import Row, Tx


class SqlOps(abc.ABC):
    """Mixed into SqlStore, which supplies transactions and conversions."""

    @abc.abstractmethod
    def _transaction(self, *, write: bool) -> AbstractContextManager[Tx]: ...

    @abc.abstractmethod
    def _ts(self, value: datetime | None) -> Any: ...

    @abc.abstractmethod
    def _dt(self, value: Any) -> datetime | None: ...

    def _set_traceparent(self, tx: Tx, run_id: str, traceparent: str) -> None:
        tx.run("set_traceparent", {"id": run_id, "traceparent": traceparent})

    def get_traceparent(self, run_id: str) -> str | None:
        with self._transaction(write=False) as tx:
            rows = tx.run("get_traceparent", {"id": run_id})
        return str(rows[0]["traceparent"]) if rows and rows[0]["traceparent"] else None

    def database_now(self) -> datetime:
        with self._transaction(write=False) as tx:
            rows = tx.run("database_now")
        now = self._dt(rows[0]["now"])
        assert now is not None
        return now

    def stuck_runs(self, lease_before: datetime, due_before: datetime, limit: int) -> StuckRuns:
        lease = {"before": self._ts(lease_before), "limit": limit}
        due = {"before": self._ts(due_before), "limit": limit}
        with self._transaction(write=False) as tx:
            expired = [self._stuck(r) for r in tx.run("expired_leases", lease)]
            overdue = [self._stuck(r) for r in tx.run("overdue_runs", due)]
            n_expired = int(tx.run("count_expired_leases", lease)[0]["n"])
            n_overdue = int(tx.run("count_overdue_runs", due)[0]["n"])
        return StuckRuns(expired, overdue, n_expired, n_overdue)

    def _stuck(self, r: Row | Mapping[str, Any]) -> StuckRun:
        due = self._dt(r["due_at"])
        assert due is not None
        return StuckRun(
            id=str(r["id"]),
            task_id=str(r["task_id"]),
            queue=str(r["queue"]),
            status=str(r["status"]),
            due_at=due,
        )
