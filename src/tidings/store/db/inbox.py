"""The inbox and its change feed over a backend's database object."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from tidings.records.notify import InboxChange, InboxCounts, InboxItem
from tidings.store.db import rows as to
from tidings.store.db.database import Bound, Database, Tx
from tidings.store.db.runs import insert_run
from tidings.store.inbox import MARK_KINDS, Inbox
from tidings.store.runs import NewRun


def inbox_change(
    db: Database, tx: Tx, recipient_id: str, kind: str, item_id: str, now: datetime
) -> None:
    """Append to the recipient's change feed inside ``tx``."""
    # The sequence row's lock is held to commit: per recipient, seq order = commit order.
    seq = tx.run("next_inbox_seq", {"recipient_id": recipient_id})[0]["seq"]
    change = {
        "recipient_id": recipient_id,
        "seq": int(seq),
        "kind": kind,
        "item_id": item_id,
        "now": db.ts(now),
    }
    tx.run("insert_inbox_change", change)


class DbInbox(Bound, Inbox):
    def page(
        self,
        recipient_id: str,
        status: str,
        types: Sequence[str] | None,
        tags: Sequence[str] | None,
        before: tuple[datetime, str] | None,
        limit: int,
        now: datetime,
    ) -> list[InboxItem]:
        params = {
            "recipient_id": recipient_id,
            "status": status,
            "types": None if types is None else self._array(list(types)),
            "tags": None if tags is None else self._array(list(tags)),
            "before_at": None if before is None else self._ts(before[0]),
            "before_id": None if before is None else before[1],
            "limit": limit,
            "now": self._ts(now),
        }
        with self._transaction(write=False) as tx:
            rows = tx.run("list_inbox", params)
        return [to.inbox_item(self._db, r) for r in rows]

    def unread_count(self, recipient_id: str, now: datetime) -> int:
        with self._transaction(write=False) as tx:
            rows = tx.run("unread_count", {"recipient_id": recipient_id, "now": self._ts(now)})
        return int(rows[0]["n"])

    def counts(self, recipient_id: str, now: datetime) -> InboxCounts:
        with self._transaction(write=False) as tx:
            rows = tx.run("inbox_counts", {"recipient_id": recipient_id, "now": self._ts(now)})
        r = rows[0]
        return InboxCounts(int(r["unread"]), int(r["unseen"]), int(r["archived"]))

    def mark(
        self, recipient_id: str, ids: Sequence[str] | None, kind: str, now: datetime
    ) -> list[str]:
        if kind not in MARK_KINDS:
            raise ValueError(f"unknown inbox state {kind!r}")
        params = {
            "recipient_id": recipient_id,
            "ids": None if ids is None else self._array(list(ids)),
            "now": self._ts(now),
        }
        with self._transaction(write=True) as tx:
            changed = sorted(str(r["id"]) for r in tx.run(f"mark_{kind}", params))
            for item_id in changed:
                inbox_change(self._db, tx, recipient_id, kind, item_id, now)
        return changed

    def snooze(
        self,
        recipient_id: str,
        ids: Sequence[str],
        until: datetime,
        now: datetime,
        timer: NewRun,
        idempotency_ttl: timedelta,
    ) -> list[str]:
        params = {
            "recipient_id": recipient_id,
            "ids": self._array(list(ids)),
            "until": self._ts(until),
            "now": self._ts(now),
        }
        with self._transaction(write=True) as tx:
            changed = sorted(str(r["id"]) for r in tx.run("mark_snoozed", params))
            for item_id in changed:
                inbox_change(self._db, tx, recipient_id, "snoozed", item_id, now)
            if changed:
                insert_run(self._db, tx, timer, now, idempotency_ttl)
        return changed

    def changes(self, recipient_id: str, after_seq: int, limit: int) -> list[InboxChange]:
        params = {"recipient_id": recipient_id, "after": after_seq, "limit": limit}
        with self._transaction(write=False) as tx:
            rows = tx.run("inbox_changes", params)
        return [
            InboxChange(int(r["seq"]), str(r["kind"]), str(r["item_id"]), self._req(r["at"]))
            for r in rows
        ]

    def items(self, recipient_id: str, ids: Sequence[str]) -> list[InboxItem]:
        params = {"recipient_id": recipient_id, "ids": self._array(list(ids))}
        with self._transaction(write=False) as tx:
            rows = tx.run("get_inbox_items", params)
        return [to.inbox_item(self._db, r) for r in rows]

    def last_seq(self, recipient_id: str) -> int:
        with self._transaction(write=False) as tx:
            rows = tx.run("inbox_last_seq", {"recipient_id": recipient_id})
        return int(rows[0]["seq"]) if rows else 0

    def marker(self) -> int:
        with self._transaction(write=False) as tx:
            rows = tx.run("inbox_marker")
        return int(rows[0]["marker"])
