"""The dashboard's reads (and its one action on runs) over a backend's database object.

Its queries (``dashboard.sql``) run in transactions that begin with ``dash_begin``,
which lets a backend plan each query for its parameters.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from tidings.records import Run, RunStatus
from tidings.records.notify import Delivery, Recipient
from tidings.store.dashboard import (
    Cursor,
    Dashboard,
    EventView,
    EventWaitView,
    Overview,
    RunFilter,
    RunLinks,
    Series,
    TaskTiming,
)
from tidings.store.db import rows as to
from tidings.store.db.database import Bound, Tx

_FAR_PAST = datetime(1970, 1, 2, tzinfo=UTC)
_FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


class DbDashboard(Bound, Dashboard):
    @contextmanager
    def _dash(self, *, write: bool = False) -> Iterator[Tx]:
        """A transaction for dashboard queries (``dash_begin`` sets the backend up)."""
        with self._transaction(write=write) as tx:
            tx.run("dash_begin")
            yield tx

    # -- runs --------------------------------------------------------------------------
    def _filter_params(self, f: RunFilter, cursor: Cursor | None) -> dict[str, Any]:
        until = f.until or _FAR_FUTURE
        if cursor is not None:
            until = min(until, cursor.at + _US)  # keeps the range sargable
        return {
            "task_id": f.task_id,
            "status": None if f.status is None else str(f.status),
            "since": self._ts(f.since or _FAR_PAST),
            "until": self._ts(until),
            "cursor_at": self._ts(cursor.at) if cursor else None,
            "cursor_id": cursor.id if cursor else None,
            "needle": None if f.tag is None else json.dumps(f.tag),
            "key": f.idempotency_key,
        }

    def search_runs(self, f: RunFilter, cursor: Cursor | None, limit: int) -> list[Run]:
        """Runs matching ``f``, newest first, after ``cursor``; without payload steps."""
        params = {**self._filter_params(f, cursor), "limit": limit}
        if f.idempotency_key is not None:
            query = "dash_runs_key"
        else:
            query = "dash_runs" + ("_task" if f.task_id else "") + ("_status" if f.status else "")
        with self._dash() as tx:
            rows = tx.run(query, params)
        return [to.run(self._db, r, []) for r in rows]

    def count_runs_by_status(self, f: RunFilter, cap: int) -> dict[RunStatus, int]:
        """Runs matching ``f`` per status, each count stopping at ``cap``.

        With a tag filter (no index), the statuses of the newest ``cap`` matches instead.
        """
        params = {**self._filter_params(f, None), "cap": cap}
        counts = dict.fromkeys(RunStatus, 0)
        with self._dash() as tx:
            if f.idempotency_key is not None:
                for r in tx.run("dash_count_key", params):
                    counts[RunStatus(r["status"])] = min(int(r["n"]), cap)
                return counts
            if f.tag is not None:
                for r in tx.run("dash_count_tag", params):
                    counts[RunStatus(r["status"])] = int(r["n"])
                return counts
            query = "dash_count_task" if f.task_id else "dash_count"
            for status in RunStatus:
                if f.status is not None and status is not f.status:
                    continue
                rows = tx.run(query, {**params, "status": str(status)})
                counts[status] = int(rows[0]["n"])
        return counts

    def run_links(self, run_id: str) -> RunLinks | None:
        with self._dash() as tx:
            rows = tx.run("dash_run_parent", {"id": run_id})
            if not rows:
                return None
            parent = rows[0]["parent_run_id"] or _parent_from_key(rows[0]["idempotency_key"])
            if parent is not None and not tx.run("dash_run_exists", {"id": parent}):
                parent = None
            replays = tx.run("dash_replays", {"id": run_id})
            waits = tx.run("dash_run_waits", {"run_id": run_id})
            resumes = tx.run("dash_run_resumes", {"run_id": run_id})
        return RunLinks(
            parent_run_id=parent,
            replays=tuple((str(r["id"]), RunStatus(r["status"])) for r in replays),
            waits=tuple(
                EventWaitView(
                    step=str(w["step"]),
                    event_name=str(w["event_name"]),
                    match=dict(
                        zip(json.loads(w["match_paths"]), json.loads(w["match_key"]), strict=False)
                    ),
                    since=self._req(w["since"]),
                )
                for w in waits
            ),
            resumed_by=tuple(
                (str(r["event_id"]), str(r["step"]), self._req(r["at"])) for r in resumes
            ),
        )

    def run_statuses(self, run_ids: Sequence[str]) -> dict[str, tuple[str, RunStatus]]:
        """``{run id: (task id, status)}`` for the ids that exist."""
        if not run_ids:
            return {}
        with self._dash() as tx:
            rows = tx.run("dash_runs_status_of", {"ids": self._array(list(run_ids))})
        return {str(r["id"]): (str(r["task_id"]), RunStatus(r["status"])) for r in rows}

    def run_fingerprint(self, run_id: str) -> str | None:
        """A value that changes whenever what the run's page shows changes."""
        with self._dash() as tx:
            rows = tx.run("dash_run_fingerprint", {"id": run_id})
        if not rows:
            return None
        return json.dumps([str(v) for v in dict(rows[0]).values()])

    def retry_now(self, run_id: str, now: datetime) -> bool:
        """Make a backing-off or delayed queued run, or a sleeping run, due now.

        Returns False when the run is neither (a wait for an event needs its event).
        """
        params = {"id": run_id, "now": self._ts(now)}
        with self._dash(write=True) as tx:
            tx.run("dash_retry_queued", params)
            if tx.rowcount() == 1:
                return True
            tx.run("dash_wake_sleep", params)
            if tx.rowcount() == 0:
                return False
            tx.run("dash_wake_run", params)
            return tx.rowcount() == 1

    # -- events ------------------------------------------------------------------------
    def list_events(self, name: str | None, cursor: Cursor | None, limit: int) -> list[EventView]:
        params = {
            "name": name,
            "cursor_at": self._ts(cursor.at) if cursor else None,
            "cursor_id": cursor.id if cursor else None,
            "limit": limit,
        }
        with self._dash() as tx:
            rows = tx.run("dash_events" if name is None else "dash_events_name", params)
            ids = self._array([str(r["id"]) for r in rows])
            resumes = tx.run("dash_event_resumes", {"ids": ids}) if rows else []
        return self._events(rows, resumes)

    def get_event_view(self, event_id: str) -> EventView | None:
        with self._dash() as tx:
            rows = tx.run("dash_event", {"id": event_id})
            resumes = tx.run("dash_event_resumes", {"ids": self._array([event_id])})
        found = self._events(rows, resumes)
        return found[0] if found else None

    def _events(
        self, rows: Sequence[Mapping[str, Any]], resumes: Sequence[Mapping[str, Any]]
    ) -> list[EventView]:
        by_event: dict[str, list[tuple[str, str]]] = {}
        for r in resumes:
            by_event.setdefault(str(r["event_id"]), []).append((str(r["run_id"]), str(r["step"])))
        return [
            EventView(
                id=str(r["id"]),
                name=str(r["name"]),
                data=json.loads(r["data"]),
                ts=self._req(r["ts"]),
                received_at=self._req(r["received_at"]),
                run_ids=tuple(json.loads(r["run_ids"])),
                resumed=tuple(by_event.get(str(r["id"]), ())),
            )
            for r in rows
        ]

    # -- tasks, schedules, overview ----------------------------------------------------
    def task_stats(self, since: datetime) -> dict[str, dict[RunStatus, int]]:
        """Per task, how many runs finished since ``since`` with each final status."""
        with self._dash() as tx:
            rows = tx.run("dash_task_stats", {"since": self._ts(since)})
        stats: dict[str, dict[RunStatus, int]] = {}
        for r in rows:
            stats.setdefault(str(r["task_id"]), {})[RunStatus(r["status"])] = int(r["n"])
        return stats

    def overview(
        self, now: datetime, window: timedelta, buckets: int, lookback: timedelta
    ) -> Overview:
        """Throughput, failures and queue depth over ``window`` in ``buckets`` slices.

        Queue depth counts the runs that fell due in the window (and were created at most
        ``lookback`` before it), so it stays an index range scan however old the table.
        """
        start = now - window
        bucket = window / buckets
        bucket_us = bucket // _US
        p = {
            "start": self._ts(start),
            "bucket": bucket_us,
            "now": self._ts(now),
            "lookback": lookback // _US,
        }
        completed, failed = [0] * buckets, [0] * buckets
        arrivals, departures = [0] * (buckets + 1), [0] * (buckets + 1)
        with self._dash() as tx:
            for r in tx.run("dash_finished_buckets", p):
                b = min(int(r["b"]), buckets - 1)
                if r["status"] == "COMPLETED":
                    completed[b] += int(r["n"])
                elif r["status"] == "FAILED":
                    failed[b] += int(r["n"])
            for r in tx.run("dash_arrivals", p):
                arrivals[min(int(r["b"]), buckets)] += int(r["n"])
            for r in tx.run("dash_departures", p):
                departures[max(0, min(int(r["b"]), buckets))] += int(r["n"])
            queue_now = int(tx.run("dash_queue_now", {"now": p["now"], "cap": 100_000})[0]["n"])
            slow = tx.run("dash_slowest", {"since": p["start"], "limit": 5})
        queued, depth = [], 0
        for i in range(buckets):
            depth += arrivals[i] - departures[i]
            queued.append(max(depth, 0))
        series = Series(start, int(bucket.total_seconds()), completed, failed, queued)
        slowest = [
            TaskTiming(
                str(r["task_id"]),
                int(r["n"]),
                float(r["avg_us"]) / 1e6,
                float(r["max_us"]) / 1e6,
            )
            for r in slow
        ]
        return Overview(series, queue_now, slowest)

    # -- notifications -----------------------------------------------------------------
    def run_deliveries(self, run_id: str) -> list[Delivery]:
        """The deliveries of the notifications ``run_id`` sent, oldest first."""
        with self._dash() as tx:
            rows = tx.run("dash_run_deliveries", {"run_id": run_id})
        return [to.delivery(self._db, r) for r in rows]

    def notification_run(self, notification_id: str) -> str | None:
        """The run that sent a notification (None for ``app.notify`` outside a task)."""
        with self._dash() as tx:
            rows = tx.run("dash_notification_run", {"id": notification_id})
        return str(rows[0]["run_id"]) if rows and rows[0]["run_id"] else None

    def list_recipients(self, search: str | None, after: str | None, limit: int) -> list[Recipient]:
        """Recipients by id after ``after``; ``search`` matches an id, email or phone."""
        params = {"q": search, "after": after, "limit": limit}
        with self._dash() as tx:
            rows = tx.run("dash_recipients", params)
        return [to.recipient(self._db, r) for r in rows]

    def failing_providers(self, since: datetime) -> list[tuple[str, str, int]]:
        """(channel, provider, count) of deliveries failed, bounced or complained since."""
        with self._dash() as tx:
            rows = tx.run("dash_failing_providers", {"since": self._ts(since)})
        return [(str(r["channel"]), str(r["provider"]), int(r["n"])) for r in rows]


def _parent_from_key(key: str | None) -> str | None:
    """A child started by ``ctx.trigger`` carries the key ``<parent run id>:<step>``."""
    if key is None or not key.startswith("run_") or ":" not in key:
        return None
    return key.split(":", 1)[0]
