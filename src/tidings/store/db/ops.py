"""What ``tidings doctor`` asks, over a backend's database object."""

from __future__ import annotations

from datetime import datetime

from tidings.store.db.database import Bound, Row
from tidings.store.ops import Ops, StuckRun, StuckRuns


class DbOps(Bound, Ops):
    def database_now(self) -> datetime:
        with self._transaction(write=False) as tx:
            rows = tx.run("database_now")
        return self._req(rows[0]["now"])

    def stuck_runs(self, lease_before: datetime, due_before: datetime, limit: int) -> StuckRuns:
        lease = {"before": self._ts(lease_before), "limit": limit}
        due = {"before": self._ts(due_before), "limit": limit}
        with self._transaction(write=False) as tx:
            expired = [self._stuck(r) for r in tx.run("expired_leases", lease)]
            overdue = [self._stuck(r) for r in tx.run("overdue_runs", due)]
            n_expired = int(tx.run("count_expired_leases", lease)[0]["n"])
            n_overdue = int(tx.run("count_overdue_runs", due)[0]["n"])
        return StuckRuns(expired, overdue, n_expired, n_overdue)

    def _stuck(self, r: Row) -> StuckRun:
        return StuckRun(
            id=str(r["id"]),
            task_id=str(r["task_id"]),
            queue=str(r["queue"]),
            status=str(r["status"]),
            due_at=self._req(r["due_at"]),
        )
