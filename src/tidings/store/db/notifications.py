"""Notifications over a backend's database object: the delivery log (with the send runs
and inbox items written in the same transaction), the outbox, digests and settings."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from tidings.ids import new_id
from tidings.records.notify import Channel, Delivery, OutboxEntry
from tidings.store.db import rows as to
from tidings.store.db.database import Bound, Row
from tidings.store.db.routing import json_ts, record_notifications
from tidings.store.notifications import (
    DigestSlot,
    NewNotification,
    Notifications,
    SendUpdate,
)


class DbNotifications(Bound, Notifications):
    def find(self, dedup_key: str, now: datetime) -> list[Delivery] | None:
        with self._transaction(write=False) as tx:
            rows = tx.run("find_dedup", {"key": dedup_key, "now": self._ts(now)})
            if not rows:
                return None
            found = tx.run("notification_deliveries", {"id": rows[0]["notification_id"]})
        return [to.delivery(self._db, r) for r in found]

    def record(
        self, new: NewNotification, now: datetime, dedup_ttl: timedelta, idempotency_ttl: timedelta
    ) -> tuple[list[Delivery], bool]:
        with self._transaction(write=True) as tx:
            holder = record_notifications(self._db, tx, [new], now, dedup_ttl, idempotency_ttl)[
                new.dedup_key
            ]
            rows = tx.run("notification_deliveries", {"id": holder})
        return [to.delivery(self._db, r) for r in rows], holder == new.id

    def delivery(self, delivery_id: str) -> Delivery | None:
        with self._transaction(write=False) as tx:
            rows = tx.run("get_delivery", {"id": delivery_id})
        return to.delivery(self._db, rows[0]) if rows else None

    def data(self, notification_id: str) -> Any:
        with self._transaction(write=False) as tx:
            rows = tx.run("get_notification", {"id": notification_id})
        return json.loads(rows[0]["data"]) if rows else None

    def delivery_data(self, delivery_id: str) -> Any:
        with self._transaction(write=False) as tx:
            rows = tx.run("get_delivery", {"id": delivery_id})
        return json.loads(rows[0]["data"]) if rows else None

    def deliveries(
        self,
        recipient_id: str | None,
        type_id: str | None,
        channel: str | None,
        status: str | None,
        limit: int,
    ) -> list[Delivery]:
        params = {
            "recipient_id": recipient_id,
            "type_id": type_id,
            "channel": channel,
            "status": status,
            "limit": limit,
        }
        with self._transaction(write=False) as tx:
            rows = tx.run("list_deliveries", params)
        return [to.delivery(self._db, r) for r in rows]

    def update_delivery(self, delivery_id: str, update: SendUpdate, now: datetime) -> None:
        params = {
            "id": delivery_id,
            "status": update.status,
            "provider": update.provider,
            "provider_message_id": update.provider_message_id,
            "attempts": update.attempts,
            "error": update.error,
            "history": update.history,
            "sent_at": self._ts(update.sent_at),
            "now": self._ts(now),
        }
        with self._transaction(write=True) as tx:
            tx.run("update_delivery", params)
            for channel, address in update.suppress:
                reason = f"delivery {delivery_id}: {update.error or 'rejected'}"
                tx.run(
                    "insert_suppression",
                    {
                        "channel": channel,
                        "address": address,
                        "reason": reason,
                        "now": params["now"],
                    },
                )
            for token in update.deactivate:
                tx.run(
                    "deactivate_push_token", {"token": token, "now": params["now"], "off": False}
                )

    def deliveries_many(self, delivery_ids: Sequence[str]) -> list[Delivery]:
        with self._autocommit(write=False) as tx:
            rows = tx.run("deliveries_many", {"ids": self._array(list(delivery_ids))})
        found = {str(r["id"]): to.delivery(self._db, r) for r in rows}
        return [found[i] for i in delivery_ids if i in found]

    def update_deliveries(self, updates: Sequence[tuple[str, SendUpdate]], now: datetime) -> None:
        plain = [(i, u) for i, u in updates if not u.suppress and not u.deactivate]
        rows = [
            {
                "id": i,
                "status": u.status.value,
                "provider": u.provider,
                "provider_message_id": u.provider_message_id,
                "attempts": u.attempts,
                "error": u.error,
                "history": u.history,
                "sent_at": json_ts(self._db, u.sent_at),
            }
            for i, u in plain
        ]
        if rows:
            with self._transaction(write=True) as tx:
                tx.run("update_deliveries_many", {"rows": json.dumps(rows), "now": self._ts(now)})
        for i, u in updates:  # suppressing or deactivating too: one by one (rare)
            if u.suppress or u.deactivate:
                self.update_delivery(i, u, now)

    def capture_outbox_many(self, entries: Sequence[OutboxEntry]) -> None:
        if not entries:
            return
        rows = [
            {
                "id": e.id,
                "delivery_id": e.delivery_id,
                "channel": e.channel.value,
                "to_address": e.to,
                "type_id": e.type,
                "locale": e.locale,
                "subject": e.subject,
                "html": e.html,
                "text": e.text,
                "title": e.title,
                "body": e.body,
                "data": json.dumps(dict(e.data)),
            }
            for e in entries
        ]
        with self._transaction(write=True) as tx:
            tx.run(
                "insert_outbox_many",
                {"rows": json.dumps(rows), "now": self._ts(entries[0].created_at)},
            )

    def mark_sandboxed(self, delivery_id: str) -> None:
        with self._transaction(write=True) as tx:
            tx.run("mark_delivery_sandboxed", {"id": delivery_id})

    def count_deliveries(self) -> dict[tuple[str, str], int]:
        with self._transaction(write=False) as tx:
            rows = tx.run("count_deliveries")
        return {(str(r["channel"]), str(r["status"])): int(r["n"]) for r in rows}

    def capture_outbox(self, entry: OutboxEntry) -> bool:
        params = {
            "id": entry.id,
            "delivery_id": entry.delivery_id,
            "channel": entry.channel,
            "to_address": entry.to,
            "type_id": entry.type,
            "recipient_id": entry.recipient_id,
            "locale": entry.locale,
            "subject": entry.subject,
            "html": entry.html,
            "text": entry.text,
            "title": entry.title,
            "body": entry.body,
            "data": json.dumps(dict(entry.data)),
            "now": self._ts(entry.created_at),
        }
        with self._transaction(write=True) as tx:
            tx.run("insert_outbox", params)
            return tx.rowcount() == 1

    def outbox(
        self, to: str | None, type_id: str | None, channel: str | None, limit: int
    ) -> list[OutboxEntry]:
        params = {"to": to, "type_id": type_id, "channel": channel, "limit": limit}
        with self._transaction(write=False) as tx:
            rows = tx.run("list_outbox", params)
        return [
            OutboxEntry(
                id=str(r["id"]),
                delivery_id=str(r["delivery_id"]),
                channel=Channel(r["channel"]),
                to=str(r["to_address"]),
                recipient_id=str(r["recipient_id"]),
                type=str(r["type_id"]),
                locale=str(r["locale"]),
                subject=r["subject"],
                html=r["html"],
                text=r["text"],
                title=r["title"],
                body=r["body"],
                data=json.loads(r["data"]),
                created_at=self._dt(r["created_at"]),
            )
            for r in rows
        ]

    def setting(self, key: str, default: str, now: datetime) -> str:
        with self._transaction(write=True) as tx:
            tx.run("insert_setting", {"key": key, "value": default, "now": self._ts(now)})
            return str(tx.run("get_setting", {"key": key})[0]["value"])

    def get_setting(self, key: str) -> str | None:
        with self._transaction(write=False) as tx:
            rows = tx.run("get_setting", {"key": key})
        return str(rows[0]["value"]) if rows else None

    def digest_add(
        self, key: str, source: str, item: str, run_id: str, closes_at: datetime, now: datetime
    ) -> DigestSlot:
        with self._transaction(write=True) as tx:
            rows = tx.run("digest_of_source", {"source": source})
            if rows:
                return self._slot(rows[0])
            opened = {
                "id": new_id("dig"),
                "key": key,
                "run_id": run_id,
                "now": self._ts(now),
                "closes_at": self._ts(closes_at),
            }
            # At most one open digest per key (a unique partial index): the first add
            # opens it, a concurrent opener finds it through the conflict.
            while True:
                tx.run("open_digest", opened)
                found = tx.run("lock_open_digest", {"key": key})
                if found:  # else it was closed since the insert found it open: open anew
                    slot = found[0]
                    break
            added = {"source": source, "digest_id": slot["id"], "item": item, "now": opened["now"]}
            tx.run("insert_digest_item", added)
        return self._slot(slot)

    def digest_close(self, digest_id: str, now: datetime) -> list[Any]:
        with self._transaction(write=True) as tx:
            tx.run("close_digest", {"id": digest_id, "now": self._ts(now)})
            rows = tx.run("digest_items", {"id": digest_id})
        return [json.loads(r["item"]) for r in rows]

    def _slot(self, r: Row) -> DigestSlot:
        return DigestSlot(str(r["id"]), str(r["run_id"]), self._req(r["closes_at"]))
