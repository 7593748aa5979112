"""Recipients over a backend's database object: profiles, push tokens, preferences,
suppressions, and what routing reads about a recipient in one transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from tidings.records.notify import Channel, Preference, PreferenceChange, PushToken, Recipient
from tidings.store.db import rows as to
from tidings.store.db.database import Bound, Row, Tx
from tidings.store.db.routing import read_inputs
from tidings.store.recipients import (
    GLOBAL_TYPE,
    ChangeNote,
    RecipientRow,
    Recipients,
    RoutingInputs,
)


class DbRecipients(Bound, Recipients):
    def upsert(self, row: RecipientRow, now: datetime) -> Recipient:
        with self._transaction(write=True) as tx:
            rows = tx.run("lock_recipient", {"id": row.id})
            if rows:  # a partial update keeps the fields it does not give
                row = _merge(to.recipient(self._db, rows[0]), row)
            rows = tx.run("upsert_recipient", self._recipient_params(row, now))
        return to.recipient(self._db, rows[0])

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

    def get(self, recipient_id: str) -> Recipient | None:
        with self._transaction(write=False) as tx:
            rows = tx.run("get_recipient", {"id": recipient_id})
        return to.recipient(self._db, rows[0]) if rows else None

    def delete(self, recipient_id: str) -> bool:
        params = {"id": recipient_id}
        with self._transaction(write=True) as tx:
            tx.run("delete_recipient", params)
            found = tx.rowcount() == 1
            if found:
                tx.run("delete_recipient_inbox", params)
                tx.run("delete_recipient_changes", params)
                tx.run("delete_recipient_sequence", params)
                tx.run("delete_recipient_topics", params)
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

    def push_tokens(self, recipient_id: str, active_only: bool) -> list[PushToken]:
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
        self,
        recipient_id: str,
        type_id: str,
        channel: str,
        enabled: bool,
        now: datetime,
        note: ChangeNote | None = None,
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
            if note is not None:
                self._note(tx, recipient_id, note, now)
        return True

    def _note(self, tx: Tx, recipient_id: str, note: ChangeNote, now: datetime) -> None:
        row = {
            "id": note.id,
            "recipient_id": recipient_id,
            "now": self._ts(now),
            "actor": note.actor,
            "origin": note.origin,
            "change": note.change,
        }
        tx.run("insert_preference_change", row)

    def note_change(self, recipient_id: str, note: ChangeNote, now: datetime) -> bool:
        with self._transaction(write=True) as tx:
            if not tx.run("get_recipient", {"id": recipient_id}):
                return False
            self._note(tx, recipient_id, note, now)
        return True

    def preference_changes(self, recipient_id: str, limit: int) -> list[PreferenceChange]:
        with self._transaction(write=False) as tx:
            rows = tx.run("list_preference_changes", {"recipient_id": recipient_id, "limit": limit})
        return [
            PreferenceChange(
                id=str(r["id"]),
                recipient_id=str(r["recipient_id"]),
                at=self._req(r["at"]),
                actor=str(r["actor"]),
                origin=r["origin"],
                change=json.loads(r["change"]),
            )
            for r in rows
        ]

    def preferences(self, recipient_id: str) -> list[Preference]:
        with self._transaction(write=False) as tx:
            rows = tx.run("list_preferences", {"recipient_id": recipient_id})
        return [
            Preference(
                recipient_id,
                None if r["type_id"] == GLOBAL_TYPE else str(r["type_id"]),
                Channel(r["channel"]),
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
            recipient = to.recipient(self._db, rows[0])
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

    def missing(self, recipient_ids: Sequence[str]) -> list[str]:
        with self._autocommit(write=False) as tx:
            rows = tx.run("missing_recipients", {"ids": self._array(list(recipient_ids))})
        return [str(r["id"]) for r in rows]

    def routing_inputs_many(self, recipient_ids: Sequence[str]) -> dict[str, RoutingInputs]:
        with self._transaction(write=False) as tx:
            return read_inputs(self._db, tx, recipient_ids)

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
