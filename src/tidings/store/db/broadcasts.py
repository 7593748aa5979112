"""Broadcasts over a backend's database object (see :mod:`tidings.store.broadcasts`)."""

from __future__ import annotations

import builtins
import json
from datetime import datetime, timedelta

from tidings.records.notify import Delivery
from tidings.store.broadcasts import BroadcastRow, Broadcasts, NewBroadcast, PageRecord
from tidings.store.db import rows as to
from tidings.store.db.database import Bound, Row
from tidings.store.db.routing import record_notifications
from tidings.store.db.runs import insert_run


class DbBroadcasts(Bound, Broadcasts):
    def create(
        self, new: NewBroadcast, now: datetime, idempotency_ttl: timedelta
    ) -> tuple[BroadcastRow, bool]:
        with self._transaction(write=True) as tx:
            run_id, created = insert_run(self._db, tx, new.run, now, idempotency_ttl)
            if not created:
                rows = tx.run("broadcast_of_run", {"run_id": run_id})
                if rows:
                    return self._row(rows[0]), False
                raise LookupError(f"the run {run_id} holding this key is not a broadcast")
            tx.run(
                "insert_broadcast",
                {
                    "id": new.id,
                    "type_id": new.type_id,
                    "topic": new.topic,
                    "data": new.data,
                    "channels": new.channels,
                    "tags": json.dumps(list(new.tags)),
                    "dedup_key": new.dedup_key,
                    "run_id": run_id,
                    "now": self._ts(now),
                },
            )
            if new.recipients is None:
                tx.run("topic_audience", {"id": new.id, "topic": new.topic})
            else:
                tx.run("list_audience", {"id": new.id, "ids": self._array(list(new.recipients))})
            tx.run("set_broadcast_total", {"id": new.id})
            row = tx.run("get_broadcast", {"id": new.id})[0]
        return self._row(row), True

    def get(self, broadcast_id: str) -> BroadcastRow | None:
        with self._autocommit(write=False) as tx:
            rows = tx.run("get_broadcast", {"id": broadcast_id})
        return self._row(rows[0]) if rows else None

    def list(self, limit: int) -> builtins.list[BroadcastRow]:
        with self._autocommit(write=False) as tx:
            rows = tx.run("list_broadcasts", {"limit": limit})
        return [self._row(r) for r in rows]

    def page(self, broadcast_id: str, after: str, limit: int) -> builtins.list[str]:
        with self._autocommit(write=False) as tx:
            rows = tx.run("audience_page", {"id": broadcast_id, "after": after, "limit": limit})
        return [str(r["recipient_id"]) for r in rows]

    def record_page(
        self, page: PageRecord, now: datetime, dedup_ttl: timedelta, idempotency_ttl: timedelta
    ) -> tuple[BroadcastRow, int]:
        with self._transaction(write=True) as tx:
            # The cursor moves first: its row lock makes a concurrent recorder of the
            # same page wait, then find the cursor moved and write nothing.
            tx.run(
                "advance_broadcast",
                {
                    "id": page.broadcast_id,
                    "cursor": page.cursor,
                    "next": page.next,
                    "finished_at": self._ts(now) if page.finished else None,
                },
            )
            recorded = 0
            if tx.rowcount() == 1:
                holders = record_notifications(
                    self._db, tx, page.notifications, now, dedup_ttl, idempotency_ttl,
                    broadcast_id=page.broadcast_id,
                )  # fmt: skip
                mine = {n.id for n in page.notifications}
                recorded = sum(1 for h in holders.values() if h in mine)
                tx.run("add_routed", {"id": page.broadcast_id, "routed": recorded})
                for run in page.runs:
                    insert_run(self._db, tx, run, now, idempotency_ttl)
            row = tx.run("get_broadcast", {"id": page.broadcast_id})[0]
        return self._row(row), recorded

    def deliveries(
        self, broadcast_id: str, channel: str | None, status: str | None, limit: int
    ) -> builtins.list[Delivery]:
        params = {"id": broadcast_id, "channel": channel, "status": status, "limit": limit}
        with self._autocommit(write=False) as tx:
            rows = tx.run("broadcast_deliveries", params)
        return [to.delivery(self._db, r) for r in rows]

    def counts(self, broadcast_id: str) -> dict[str, dict[str, int]]:
        with self._autocommit(write=False) as tx:
            rows = tx.run("broadcast_counts", {"id": broadcast_id})
        out: dict[str, dict[str, int]] = {}
        for r in rows:
            out.setdefault(str(r["channel"]), {})[str(r["status"])] = int(r["n"])
        return out

    def _row(self, r: Row) -> BroadcastRow:
        return BroadcastRow(
            id=str(r["id"]),
            type_id=str(r["type_id"]),
            topic=r["topic"],
            data=str(r["data"]),
            channels=r["channels"],
            dedup_key=str(r["dedup_key"]),
            run_id=str(r["run_id"]),
            total=int(r["total"]),
            routed=int(r["routed"]),
            cursor=str(r["cursor"]),
            created_at=self._req(r["created_at"]),
            finished_at=self._dt(r["finished_at"]),
            tags=tuple(json.loads(r["tags"] or "[]")),
        )
