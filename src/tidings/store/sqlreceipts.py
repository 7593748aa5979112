"""Delivery tracking in the SQL stores: push receipts due, and provider webhooks applied.

A mixin of SqlStore (like sqlnotify.py); its queries live in ``receipts.sql`` of each
dialect. Recording a receipt's outcome reuses ``update_delivery``; a webhook goes through
:meth:`SqlReceipts.track_delivery`, once per event id (table ``webhook_events``).
"""

from __future__ import annotations

import abc
import json
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tidings.notify.records import Delivery

if TYPE_CHECKING:
    from tidings.store.sqlstore import Tx


# Which delivery statuses a reported status may move a delivery from. A status only moves
# forward: a late "delivered" never undoes a bounce, a "sent" never undoes "delivered".
_MOVES: dict[str, frozenset[str]] = {
    "sent": frozenset({"pending", "deferred"}),
    "delivered": frozenset({"pending", "deferred", "sent"}),
    "failed": frozenset({"pending", "deferred", "sent"}),
    "bounced": frozenset({"pending", "deferred", "sent", "delivered", "failed"}),
    "complained": frozenset({"pending", "deferred", "sent", "delivered", "failed", "bounced"}),
}


def moved_status(current: str, reported: str) -> str | None:
    """The delivery's new status, or None when ``reported`` does not move it.

    ``delayed``, ``opened``, ``clicked``, ``queued``, ``read`` never move a delivery
    (they are recorded in its history only).
    """
    return reported if current in _MOVES.get(reported, frozenset()) else None


@dataclass(frozen=True)
class TrackedEvent:
    """One provider event, as :meth:`ReceiptStore.track_delivery` records it."""

    provider: str
    provider_message_id: str
    status: str
    event: str
    event_id: str | None = None
    error: str | None = None
    suppress_address: bool = False
    address: str | None = None


@dataclass(frozen=True)
class TrackResult:
    outcome: str
    """``applied`` (status moved), ``recorded`` (history only), ``replayed`` (this event
    id was applied before: nothing changed) or ``unknown`` (no delivery has that id)."""
    delivery_id: str | None = None
    status: str | None = None
    """The delivery's status afterwards."""


class ReceiptStore(abc.ABC):
    """What the push receipts task needs from a store."""

    @abc.abstractmethod
    def deliveries_awaiting_receipts(
        self,
        channel: str,
        provider: str,
        sent_after: datetime,
        sent_before: datetime,
        limit: int,
    ) -> list[Delivery]:
        """Deliveries still ``sent`` through ``provider``, sent in the window, oldest first."""

    @abc.abstractmethod
    def track_delivery(self, event: TrackedEvent, now: datetime) -> TrackResult:
        """Apply one provider event in one transaction, at most once per event id:
        move the delivery's status forward, append the event to its history, suppress
        the address if asked."""


class SqlReceipts(ReceiptStore):
    """Mixed into SqlStore, which supplies transactions and conversions."""

    @abc.abstractmethod
    def _transaction(self, *, write: bool) -> AbstractContextManager[Tx]: ...

    @abc.abstractmethod
    def _ts(self, value: datetime | None) -> Any: ...

    @abc.abstractmethod
    def _delivery(self, r: Mapping[str, Any]) -> Delivery: ...

    def deliveries_awaiting_receipts(
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
        return [self._delivery(r) for r in rows]

    def track_delivery(self, event: TrackedEvent, now: datetime) -> TrackResult:
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
            d = self._delivery(rows[0])
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
