"""Delivery tracking over a backend's database object: push receipts due, and provider
webhooks applied once per event id (table ``webhook_events``)."""

from __future__ import annotations

import json
from datetime import datetime

from tidings.records.notify import Delivery
from tidings.store.db import rows as to
from tidings.store.db.database import Bound
from tidings.store.receipts import Receipts, TrackedEvent, TrackResult, moved_status


class DbReceipts(Bound, Receipts):
    def awaiting(
        self,
        channel: str,
        provider: str,
        sent_after: datetime,
        sent_before: datetime,
        limit: int,
    ) -> list[Delivery]:
        params = {
            "channel": channel,
            "provider": provider,
            "sent_after": self._ts(sent_after),
            "sent_before": self._ts(sent_before),
            "limit": limit,
        }
        with self._transaction(write=False) as tx:
            rows = tx.run("deliveries_awaiting_receipts", params)
        return [to.delivery(self._db, r) for r in rows]

    def track(self, event: TrackedEvent, now: datetime) -> TrackResult:
        at = self._ts(now)
        with self._transaction(write=True) as tx:
            if event.event_id is not None:
                fresh = tx.run(
                    "record_webhook_event",
                    {"provider": event.provider, "event_id": event.event_id, "now": at},
                )
                if not fresh:
                    return TrackResult("replayed")
            rows = tx.run(
                "find_delivery_by_provider_message",
                {"provider": event.provider, "provider_message_id": event.provider_message_id},
            )
            if not rows:
                return TrackResult("unknown")
            d = to.delivery(self._db, rows[0])
            status = moved_status(d.status, event.status) or d.status
            entry = {
                "provider": event.provider,
                "outcome": "webhook",
                "event": event.event,
                "status": event.status,
                "at": now.isoformat(),
                **({"error": event.error} if event.error else {}),
            }
            tx.run(
                "track_delivery",
                {
                    "id": d.id,
                    "status": status,
                    "error": event.error if status != d.status and event.error else d.error,
                    "history": json.dumps([*d.history, entry]),
                    "now": at,
                },
            )
            address = event.address or (d.addresses[0] if d.addresses else None)
            if event.suppress_address and address:
                tx.run(
                    "insert_suppression",
                    {
                        "channel": d.channel,
                        "address": address,
                        "reason": f"{event.provider} {event.event}: {event.error or 'reported'}",
                        "now": at,
                    },
                )
        return TrackResult("applied" if status != d.status else "recorded", d.id, status)
