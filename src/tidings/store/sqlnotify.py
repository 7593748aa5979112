"""Notifications in the SQL stores: recipients, routing inputs, the delivery log, the
inbox and its change feed, the outbox, digests and settings.

A mixin of SqlStore (like sqlevents.py): its queries live in ``notify.sql`` of each
dialect and run through the same transactions and conversions.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tidings.ids import new_id
from tidings.notify.records import (
    Delivery,
    InboxChange,
    InboxItem,
    OutboxEntry,
    Preference,
    PushToken,
    Recipient,
)
from tidings.store.notifybase import (
    DigestSlot,
    NewDelivery,
    NewNotification,
    NotifyStore,
    RecipientRow,
    RoutingInputs,
    SendUpdate,
)

if TYPE_CHECKING:
    from tidings.store.base import NewRun
    from tidings.store.sqlstore import Tx

Row = Mapping[str, Any]
GLOBAL_TYPE = "*"
"""The type id under which a channel's global preference is stored."""


class SqlNotify(NotifyStore):
    """Mixed into SqlStore, which supplies transactions and conversions."""

    @abc.abstractmethod
    def _transaction(self, *, write: bool) -> AbstractContextManager[Tx]: ...

    @abc.abstractmethod
    def _ts(self, value: datetime | None) -> Any: ...

    @abc.abstractmethod
    def _dt(self, value: Any) -> datetime | None: ...

    @abc.abstractmethod
    def _list(self, values: Sequence[str] | None) -> Any: ...

    @abc.abstractmethod
    def _insert_run(
        self, tx: Tx, new: NewRun, now: datetime, idempotency_ttl: timedelta
    ) -> tuple[str, bool]: ...

    # -- recipients --------------------------------------------------------------------
    def upsert_recipient(self, row: RecipientRow, now: datetime) -> Recipient:
        with self._transaction(write=True) as tx:
            rows = tx.run("lock_recipient", {"id": row.id})
            if rows:  # a partial update keeps the fields it does not give
                row = _merge(self._recipient(rows[0]), row)
            rows = tx.run("upsert_recipient", self._recipient_params(row, now))
        return self._recipient(rows[0])

    def _recipient_params(self, row: RecipientRow, now: datetime) -> dict[str, Any]:
        quiet = row.quiet_hours or (None, None)
        return {
            "id": row.id,
            "email": row.email,
            "phone": row.phone,
            "locale": row.locale,
            "timezone": row.timezone,
            "quiet_start": quiet[0],
            "quiet_end": quiet[1],
            "data": row.data,
            "now": self._ts(now),
        }

    def get_recipient(self, recipient_id: str) -> Recipient | None:
        with self._transaction(write=False) as tx:
            rows = tx.run("get_recipient", {"id": recipient_id})
        return self._recipient(rows[0]) if rows else None

    def delete_recipient(self, recipient_id: str) -> bool:
        params = {"id": recipient_id}
        with self._transaction(write=True) as tx:
            tx.run("delete_recipient", params)
            found = tx.rowcount() == 1
            if found:
                tx.run("delete_recipient_inbox", params)
                tx.run("delete_recipient_changes", params)
                tx.run("delete_recipient_sequence", params)
        return found

    def add_push_token(
        self,
        recipient_id: str,
        token: str,
        platform: str | None,
        device_name: str | None,
        now: datetime,
    ) -> PushToken | None:
        params = {
            "recipient_id": recipient_id,
            "token": token,
            "platform": platform,
            "device_name": device_name,
            "active": True,
            "now": self._ts(now),
        }
        with self._transaction(write=True) as tx:
            if not tx.run("get_recipient", {"id": recipient_id}):
                return None
            rows = tx.run("upsert_push_token", params)
        return self._token(rows[0])

    def list_push_tokens(self, recipient_id: str, active_only: bool) -> list[PushToken]:
        with self._transaction(write=False) as tx:
            rows = tx.run(
                "list_push_tokens", {"recipient_id": recipient_id, "active_only": active_only}
            )
        return [self._token(r) for r in rows]

    def deactivate_push_token(self, token: str, now: datetime) -> bool:
        with self._transaction(write=True) as tx:
            tx.run("deactivate_push_token", {"token": token, "now": self._ts(now), "off": False})
            return tx.rowcount() == 1

    def set_preference(
        self, recipient_id: str, type_id: str, channel: str, enabled: bool, now: datetime
    ) -> bool:
        params = {
            "recipient_id": recipient_id,
            "type_id": type_id,
            "channel": channel,
            "enabled": enabled,
            "now": self._ts(now),
        }
        with self._transaction(write=True) as tx:
            if not tx.run("get_recipient", {"id": recipient_id}):
                return False
            tx.run("upsert_preference", params)
        return True

    def list_preferences(self, recipient_id: str) -> list[Preference]:
        with self._transaction(write=False) as tx:
            rows = tx.run("list_preferences", {"recipient_id": recipient_id})
        return [
            Preference(
                recipient_id,
                None if r["type_id"] == GLOBAL_TYPE else str(r["type_id"]),
                str(r["channel"]),
                bool(r["enabled"]),
            )
            for r in rows
        ]

    def suppress(self, channel: str, address: str, reason: str, now: datetime) -> None:
        params = {"channel": channel, "address": address, "reason": reason, "now": self._ts(now)}
        with self._transaction(write=True) as tx:
            tx.run("insert_suppression", params)

    def unsuppress(self, channel: str, address: str) -> bool:
        with self._transaction(write=True) as tx:
            tx.run("delete_suppression", {"channel": channel, "address": address})
            return tx.rowcount() == 1

    def is_suppressed(self, channel: str, address: str) -> bool:
        with self._transaction(write=False) as tx:
            return bool(tx.run("get_suppression", {"channel": channel, "address": address}))

    def routing_inputs(self, recipient_id: str) -> RoutingInputs | None:
        with self._transaction(write=False) as tx:
            rows = tx.run("get_recipient", {"id": recipient_id})
            if not rows:
                return None
            recipient = self._recipient(rows[0])
            tokens = tx.run("list_push_tokens", {"recipient_id": recipient_id, "active_only": True})
            prefs = tx.run("list_preferences", {"recipient_id": recipient_id})
            params = {"id": recipient_id, "email": recipient.email, "phone": recipient.phone}
            suppressed = tx.run("recipient_suppressions", params)
        return RoutingInputs(
            recipient=recipient,
            tokens=[str(t["token"]) for t in tokens],
            preferences={(str(p["type_id"]), str(p["channel"])): bool(p["enabled"]) for p in prefs},
            suppressed={(str(s["channel"]), str(s["address"])) for s in suppressed},
        )

    # -- the delivery log --------------------------------------------------------------
    def find_notification(self, dedup_key: str, now: datetime) -> list[Delivery] | None:
        with self._transaction(write=False) as tx:
            rows = tx.run("find_dedup", {"key": dedup_key, "now": self._ts(now)})
            if not rows:
                return None
            found = tx.run("notification_deliveries", {"id": rows[0]["notification_id"]})
        return [self._delivery(r) for r in found]

    def record_notification(
        self, new: NewNotification, now: datetime, dedup_ttl: timedelta, idempotency_ttl: timedelta
    ) -> tuple[list[Delivery], bool]:
        with self._transaction(write=True) as tx:
            key = {
                "key": new.dedup_key,
                "notification_id": new.id,
                "now": self._ts(now),
                "expires_at": self._ts(now + dedup_ttl),
            }
            holder = str(tx.run("reserve_dedup", key)[0]["notification_id"])
            if holder != new.id:
                rows = tx.run("notification_deliveries", {"id": holder})
                if rows:
                    return [self._delivery(r) for r in rows], False
                # the key outlived its notification (deleted): take it over
                tx.run("take_dedup", key)
            tx.run(
                "insert_notification",
                {
                    "id": new.id,
                    "type_id": new.type_id,
                    "recipient_id": new.recipient_id,
                    "dedup_key": new.dedup_key,
                    "data": new.data,
                    "run_id": new.run_id,
                    "now": self._ts(now),
                },
            )
            for delivery in new.deliveries:
                self._insert_delivery(tx, new, delivery, now, idempotency_ttl)
            rows = tx.run("notification_deliveries", {"id": new.id})
        return [self._delivery(r) for r in rows], True

    def _insert_delivery(
        self,
        tx: Tx,
        new: NewNotification,
        d: NewDelivery,
        now: datetime,
        idempotency_ttl: timedelta,
    ) -> None:
        tx.run(
            "insert_delivery",
            {
                "id": d.id,
                "notification_id": new.id,
                "channel": d.channel,
                "type_id": new.type_id,
                "recipient_id": new.recipient_id,
                "addresses": json.dumps(list(d.addresses)),
                "locale": d.locale,
                "critical": new.critical,
                "status": d.status,
                "reason": d.reason,
                "error": d.error,
                "subject": d.subject,
                "html": d.html,
                "text": d.text,
                "title": d.title,
                "body": d.body,
                "sms": d.sms,
                "data": d.data,
                "send_at": self._ts(d.send_at),
                "now": self._ts(now),
                "sent_at": self._ts(now) if d.status == "delivered" else None,
            },
        )
        if d.run is not None:
            self._insert_run(tx, d.run, now, idempotency_ttl)
        if d.inbox_item_id is not None:
            item = {
                "id": d.inbox_item_id,
                "recipient_id": new.recipient_id,
                "delivery_id": d.id,
                "type_id": new.type_id,
                "title": d.title,
                "body": d.body,
                "data": new.data,
                "now": self._ts(now),
            }
            tx.run("insert_inbox_item", item)
            self._inbox_change(tx, new.recipient_id, "created", d.inbox_item_id, now)

    def _inbox_change(
        self, tx: Tx, recipient_id: str, kind: str, item_id: str, now: datetime
    ) -> None:
        # The sequence row's lock is held to commit: per recipient, seq order = commit order.
        seq = tx.run("next_inbox_seq", {"recipient_id": recipient_id})[0]["seq"]
        change = {
            "recipient_id": recipient_id,
            "seq": int(seq),
            "kind": kind,
            "item_id": item_id,
            "now": self._ts(now),
        }
        tx.run("insert_inbox_change", change)

    def get_delivery(self, delivery_id: str) -> Delivery | None:
        with self._transaction(write=False) as tx:
            rows = tx.run("get_delivery", {"id": delivery_id})
        return self._delivery(rows[0]) if rows else None

    def get_notification_data(self, notification_id: str) -> Any:
        with self._transaction(write=False) as tx:
            rows = tx.run("get_notification", {"id": notification_id})
        return json.loads(rows[0]["data"]) if rows else None

    def list_deliveries(
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
        return [self._delivery(r) for r in rows]

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

    def count_deliveries(self) -> dict[tuple[str, str], int]:
        with self._transaction(write=False) as tx:
            rows = tx.run("count_deliveries")
        return {(str(r["channel"]), str(r["status"])): int(r["n"]) for r in rows}

    # -- outbox ------------------------------------------------------------------------
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

    def list_outbox(
        self, to: str | None, type_id: str | None, channel: str | None, limit: int
    ) -> list[OutboxEntry]:
        params = {"to": to, "type_id": type_id, "channel": channel, "limit": limit}
        with self._transaction(write=False) as tx:
            rows = tx.run("list_outbox", params)
        return [
            OutboxEntry(
                id=str(r["id"]),
                delivery_id=str(r["delivery_id"]),
                channel=str(r["channel"]),
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

    # -- inbox -------------------------------------------------------------------------
    def list_inbox(
        self,
        recipient_id: str,
        unread_only: bool,
        archived: bool,
        before: tuple[datetime, str] | None,
        limit: int,
    ) -> list[InboxItem]:
        params = {
            "recipient_id": recipient_id,
            "unread_only": unread_only,
            "archived": archived,
            "before_at": None if before is None else self._ts(before[0]),
            "before_id": None if before is None else before[1],
            "limit": limit,
        }
        with self._transaction(write=False) as tx:
            rows = tx.run("list_inbox", params)
        return [self._inbox_item(r) for r in rows]

    def unread_count(self, recipient_id: str) -> int:
        with self._transaction(write=False) as tx:
            rows = tx.run("unread_count", {"recipient_id": recipient_id})
        return int(rows[0]["n"])

    def mark_inbox(
        self, recipient_id: str, ids: Sequence[str] | None, kind: str, now: datetime
    ) -> int:
        query = {"read": "mark_read", "archived": "mark_archived"}[kind]
        params = {
            "recipient_id": recipient_id,
            "ids": None if ids is None else self._list(list(ids)),
            "now": self._ts(now),
        }
        with self._transaction(write=True) as tx:
            changed = tx.run(query, params)
            for row in sorted(changed, key=lambda r: str(r["id"])):
                self._inbox_change(tx, recipient_id, kind, str(row["id"]), now)
        return len(changed)

    def inbox_changes(self, recipient_id: str, after_seq: int, limit: int) -> list[InboxChange]:
        params = {"recipient_id": recipient_id, "after": after_seq, "limit": limit}
        with self._transaction(write=False) as tx:
            rows = tx.run("inbox_changes", params)
        return [
            InboxChange(int(r["seq"]), str(r["kind"]), str(r["item_id"]), self._req(r["at"]))
            for r in rows
        ]

    # -- settings and digests ----------------------------------------------------------
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

    # -- rows to records ---------------------------------------------------------------
    def _req(self, value: Any) -> datetime:
        result = self._dt(value)
        if result is None:
            raise ValueError("unexpected NULL time")
        return result

    def _slot(self, r: Row) -> DigestSlot:
        return DigestSlot(str(r["id"]), str(r["run_id"]), self._req(r["closes_at"]))

    def _recipient(self, r: Row) -> Recipient:
        start, end = r["quiet_start"], r["quiet_end"]
        return Recipient(
            id=str(r["id"]),
            email=r["email"],
            phone=r["phone"],
            locale=r["locale"],
            timezone=str(r["timezone"]),
            quiet_hours=(str(start), str(end)) if start and end else None,
            data=json.loads(r["data"]),
            created_at=self._req(r["created_at"]),
            updated_at=self._req(r["updated_at"]),
        )

    def _token(self, r: Row) -> PushToken:
        return PushToken(
            token=str(r["token"]),
            recipient_id=str(r["recipient_id"]),
            platform=r["platform"],
            device_name=r["device_name"],
            active=bool(r["active"]),
            created_at=self._req(r["created_at"]),
            updated_at=self._req(r["updated_at"]),
        )

    def _delivery(self, r: Row) -> Delivery:
        return Delivery(
            id=str(r["id"]),
            notification_id=str(r["notification_id"]),
            channel=str(r["channel"]),
            type=str(r["type_id"]),
            to=str(r["recipient_id"]),
            addresses=tuple(json.loads(r["addresses"])),
            locale=str(r["locale"]),
            status=str(r["status"]),
            reason=r["reason"],
            provider=r["provider"],
            provider_message_id=r["provider_message_id"],
            attempts=int(r["attempts"]),
            error=r["error"],
            subject=r["subject"],
            html=r["html"],
            text=r["text"],
            title=r["title"],
            body=r["body"],
            sms=None if r["sms"] is None else json.loads(r["sms"]),
            history=json.loads(r["history"]),
            send_at=self._dt(r["send_at"]),
            created_at=self._req(r["created_at"]),
            updated_at=self._req(r["updated_at"]),
            sent_at=self._dt(r["sent_at"]),
            critical=bool(r["critical"]),
            sandboxed=bool(r["sandboxed"]),
        )

    def _inbox_item(self, r: Row) -> InboxItem:
        return InboxItem(
            id=str(r["id"]),
            recipient_id=str(r["recipient_id"]),
            type=str(r["type_id"]),
            title=r["title"],
            body=r["body"],
            data=json.loads(r["data"]),
            created_at=self._req(r["created_at"]),
            read_at=self._dt(r["read_at"]),
            archived_at=self._dt(r["archived_at"]),
            delivery_id=str(r["delivery_id"]),
        )


def _merge(old: Recipient, row: RecipientRow) -> RecipientRow:
    given = row.given
    return RecipientRow(
        id=row.id,
        email=row.email if "email" in given else old.email,
        phone=row.phone if "phone" in given else old.phone,
        locale=row.locale if "locale" in given else old.locale,
        timezone=row.timezone if "timezone" in given else old.timezone,
        quiet_hours=row.quiet_hours if "quiet_hours" in given else old.quiet_hours,
        data=row.data if "data" in given else json.dumps(old.data),
        given=given,
    )
