"""Alert windows and timer lateness over a backend's database object (migration 0022)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from tidings.records import ErrorInfo
from tidings.serde import loads
from tidings.store.db.database import Bound
from tidings.store.monitoring import FOLDED, FailedRun, Fired, Monitoring


class DbMonitoring(Bound, Monitoring):
    def add_lateness(
        self, worker_id: str, samples: Mapping[tuple[datetime, int], tuple[int, float]]
    ) -> None:
        if not samples:
            return
        with self._transaction(write=True) as tx:
            for (minute, bucket), (count, total) in sorted(samples.items()):
                tx.run(
                    "add_timer_lateness",
                    {"minute": self._ts(minute), "worker_id": worker_id, "bucket": bucket,
                     "count": count, "total": total},
                )  # fmt: skip

    def lateness(self, since: datetime | None) -> dict[int, tuple[int, float]]:
        with self._autocommit(write=False) as tx:
            rows = tx.run("timer_lateness_since", {"since": self._ts(since or FOLDED)})
        return {int(r["bucket"]): (int(r["count"]), float(r["total"])) for r in rows}

    def fold_lateness(self, before: datetime) -> None:
        params = {"before": self._ts(before), "folded": self._ts(FOLDED)}
        with self._transaction(write=True) as tx:
            tx.run("fold_timer_lateness", params)
            tx.run("drop_folded_timer_lateness", params)

    def seen_until(self, key: str) -> datetime | None:
        with self._autocommit(write=False) as tx:
            rows = tx.run("alert_window", {"key": key})
        return self._dt(rows[0]["seen_until"]) if rows else None

    def last_fired(self) -> dict[str, datetime]:
        with self._autocommit(write=False) as tx:
            rows = tx.run("alerts_last_fired")
        return {str(r["key"]): self._req(r["fired_at"]) for r in rows}

    def claim_window(
        self,
        key: str,
        window: int,
        run_id: str,
        figures: str,
        now: datetime,
        seen_until: datetime | None = None,
    ) -> Fired | None:
        params = {"key": key, "window": window, "run_id": run_id, "figures": figures,
                  "now": self._ts(now), "seen_until": self._ts(seen_until or now)}  # fmt: skip
        with self._transaction(write=True) as tx:
            tx.run("open_alert_window", params)
            tx.run("claim_alert_window", params)
            if tx.rowcount() == 1:
                return Fired(figures)
            rows = tx.run("alert_window", params)
        row = rows[0]
        if int(row["fired_window"]) == window and row["fired_by"] == run_id:
            return Fired(str(row["figures"]))  # this run claimed it before a crash
        return None

    def failed_runs(
        self,
        since: datetime,
        until: datetime,
        tasks: Sequence[str] | None,
        exclude: Sequence[str],
        limit: int,
    ) -> tuple[int, list[FailedRun]]:
        params = {"since": self._ts(since), "until": self._ts(until),
                  "tasks": self._array(tasks), "exclude": self._array(exclude),
                  "limit": limit}  # fmt: skip
        with self._transaction(write=False) as tx:
            count = int(tx.run("count_failed_runs", params)[0]["n"])
            rows = tx.run("latest_failed_runs", params) if count else []
        return count, [
            FailedRun(
                id=str(r["id"]),
                task_id=str(r["task_id"]),
                error=_message(r["error"]),
                finished_at=self._req(r["finished_at"]),
            )
            for r in rows
        ]

    def delivery_outcomes(
        self, since: datetime, provider: str | None
    ) -> dict[str, tuple[int, int]]:
        with self._autocommit(write=False) as tx:
            rows = tx.run("delivery_outcomes", {"since": self._ts(since), "provider": provider})
        return {str(r["provider"]): (int(r["failed"]), int(r["finished"])) for r in rows}


def _message(error: object) -> str | None:
    """The first line of a stored error's message."""
    info = ErrorInfo.from_json(loads(str(error))) if error else None
    return None if info is None else (info.message.splitlines() or [""])[0][:300]
