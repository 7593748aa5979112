"""Retention over a backend's database object: each kind's batch is one short write
transaction of named statements (``pruning.sql``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from tidings.records.pruning import PruneReport
from tidings.store.db.database import Bound, Row, Tx
from tidings.store.pruning import KINDS, Cursor, PruneBatch, Pruning

_START_ID = ""
_SIMPLE = {
    "events": "prune_events",
    "webhook_events": "prune_webhook_events",
    "outbox": "prune_outbox",
    "inbox_changes": "prune_inbox_changes",
    "idempotency_keys": "prune_idempotency_keys",
    "dedup_keys": "prune_dedup_keys",
    "prunes": "prune_prunes",
}
"""Kinds of which every row before the cutoff goes: one statement picks and deletes."""
_RUN_DEPENDANTS = (
    "prune_run_steps",
    "prune_run_logs",
    "prune_run_waits",
    "prune_run_cancel_keys",
    "prune_run_resumes",
    "prune_run_sources",
    "prune_run_gates",
    "prune_run_tokens",
    "prune_run_replay_marks",
    "prune_run_bulk_replays",
    "prune_run_bulk_actions",
)
"""What belongs to a run, deleted before it (the foreign keys' cascade then finds
nothing left, and each statement's count is known)."""
_OLDEST = ("runs", "events", "deliveries", "outbox", "inbox")


def _check(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown kind to prune {kind!r}; kinds: {', '.join(KINDS)}")


class DbPruning(Bound, Pruning):
    def batch(self, kind: str, cutoff: datetime, limit: int, cursor: Cursor | None) -> PruneBatch:
        _check(kind)
        with self._transaction(write=True) as tx:
            self._by_index(tx)
            if kind in _SIMPLE:
                tx.run(_SIMPLE[kind], {"cutoff": self._ts(cutoff), "limit": limit})
                n = tx.rowcount()
                return PruneBatch(n, n, (cutoff, _START_ID) if n >= limit else None)
            if kind == "digests":
                return self._digests(tx, cutoff, limit)
            if kind == "broadcasts":
                return self._broadcasts(tx, cutoff, limit)
            return self._keyset(tx, kind, cutoff, limit, cursor)

    def _by_index(self, tx: Tx) -> None:
        """Before a batch's statements: a backend whose planner may prefer scanning a
        table to probing its index a batch's worth of times says otherwise here."""

    def _keyset(
        self, tx: Tx, kind: str, cutoff: datetime, limit: int, cursor: Cursor | None
    ) -> PruneBatch:
        after_at, after_id = cursor or (datetime.min.replace(tzinfo=UTC), _START_ID)
        params = {
            "cutoff": self._ts(cutoff),
            "after_at": self._ts(after_at),
            "after_id": after_id,
            "limit": limit,
        }
        found = tx.run(f"prune_{kind}_candidates", params)
        ids = self._array([str(r["id"]) for r in found if int(r["eligible"])])
        deleted = rows = 0
        if found and ids:
            deleted, rows = self._delete(tx, kind, {"ids": ids})
        if len(found) < limit:
            return PruneBatch(deleted, rows, None)
        # the greatest (time, id) looked at: PostgreSQL returns the rows unordered
        last = max((self._last_time(kind, r), str(r["id"])) for r in found)
        return PruneBatch(deleted, rows, last)

    def _last_time(self, kind: str, row: Row) -> datetime:
        return self._req(row["finished_at" if kind == "runs" else "created_at"])

    def _delete(self, tx: Tx, kind: str, ids: dict[str, object]) -> tuple[int, int]:
        if kind == "runs":
            rows = 0
            for statement in _RUN_DEPENDANTS:
                tx.run(statement, ids)
                rows += tx.rowcount()
            tx.run("prune_run_rows", ids)
            deleted = tx.rowcount()
            return deleted, rows + deleted
        if kind == "deliveries":
            tx.run("prune_delivery_rows", ids)
            deleted = tx.rowcount()
            tx.run("prune_notification_rows", ids)
            return deleted, deleted + tx.rowcount()
        tx.run("prune_inbox_rows", ids)
        deleted = tx.rowcount()
        return deleted, deleted

    def _digests(self, tx: Tx, cutoff: datetime, limit: int) -> PruneBatch:
        picked = tx.run("prune_digests_pick", {"cutoff": self._ts(cutoff), "limit": limit})
        if not picked:
            return PruneBatch(0, 0, None)
        ids = {"ids": self._array([str(r["id"]) for r in picked])}
        tx.run("prune_digest_items", ids)
        items = tx.rowcount()
        tx.run("prune_digest_rows", ids)
        deleted = tx.rowcount()
        more = (cutoff, _START_ID) if len(picked) >= limit else None
        return PruneBatch(deleted, deleted + items, more)

    def _broadcasts(self, tx: Tx, cutoff: datetime, limit: int) -> PruneBatch:
        picked = tx.run("prune_broadcasts_pick", {"cutoff": self._ts(cutoff)})
        if not picked:
            return PruneBatch(0, 0, None)
        params = {"id": str(picked[0]["id"]), "limit": limit}
        tx.run("prune_broadcast_audience", params)
        audience = tx.rowcount()
        deleted = 0
        if audience < limit:  # the audience is gone: the broadcast goes in this batch
            tx.run("prune_broadcast_row", params)
            deleted = tx.rowcount()
        return PruneBatch(deleted, deleted + audience, (cutoff, _START_ID))

    def count(self, kind: str, cutoff: datetime) -> int:
        _check(kind)
        with self._transaction(write=False) as tx:
            rows = tx.run(f"prune_{kind}_count", {"cutoff": self._ts(cutoff)})
        return int(rows[0]["n"])

    def running_since(self) -> datetime | None:
        with self._transaction(write=False) as tx:
            rows = tx.run("prune_running_since")
        return self._dt(rows[0]["since"]) if rows else None

    def oldest(self, kind: str) -> datetime | None:
        if kind not in _OLDEST:
            raise ValueError(f"no oldest time of {kind!r}; kinds: {', '.join(_OLDEST)}")
        with self._transaction(write=False) as tx:
            rows = tx.run(f"prune_oldest_{kind}")
        return self._dt(rows[0]["at"]) if rows else None

    def record(self, report: PruneReport) -> None:
        if report.id is None:
            raise ValueError("only a prune with an id is recorded (not a dry run)")
        summary = {
            "kinds": report.counts,
            "rows": report.rows,
            "max_batch_rows": report.max_batch_rows,
        }
        with self._transaction(write=True) as tx:
            tx.run(
                "insert_prune",
                {
                    "id": report.id,
                    "started_at": self._ts(report.started_at),
                    "finished_at": self._ts(report.finished_at),
                    "counts": json.dumps(summary),
                    "batches": report.batches,
                    "complete": report.complete,
                },
            )

    def last(self) -> PruneReport | None:
        with self._transaction(write=False) as tx:
            rows = tx.run("last_prune")
        if not rows:
            return None
        r = rows[0]
        summary = json.loads(r["counts"])
        return PruneReport(
            id=str(r["id"]),
            started_at=self._req(r["started_at"]),
            finished_at=self._req(r["finished_at"]),
            dry_run=False,
            counts={str(k): int(v) for k, v in summary.get("kinds", {}).items()},
            batches=int(r["batches"]),
            rows=int(summary.get("rows", 0)),
            max_batch_rows=int(summary.get("max_batch_rows", 0)),
            complete=bool(r["complete"]),
        )
