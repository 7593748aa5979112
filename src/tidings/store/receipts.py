"""Delivery tracking: push receipts due, and provider events (webhooks) applied once."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import datetime

from tidings.records.notify import Delivery

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
    """One provider event, as :meth:`Receipts.track` records it."""

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


class Receipts(abc.ABC):
    """``store.receipts``: what the push receipts task and provider webhooks need."""

    @abc.abstractmethod
    def awaiting(
        self,
        channel: str,
        provider: str,
        sent_after: datetime,
        sent_before: datetime,
        limit: int,
    ) -> list[Delivery]:
        """Deliveries still ``sent`` through ``provider``, sent in the window, oldest first."""

    @abc.abstractmethod
    def track(self, event: TrackedEvent, now: datetime) -> TrackResult:
        """Apply one provider event in one transaction, at most once per event id:
        move the delivery's status forward, append the event to its history, suppress
        the address if asked."""
