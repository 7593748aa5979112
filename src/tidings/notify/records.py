"""The notification vocabulary (channels, statuses) and what ``notify`` returns.

The records the store returns (recipients, deliveries, inbox, outbox) live below the
store, in :mod:`tidings.records.notify`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from tidings.records.notify import InboxItem

ChannelName = Literal["in_app", "email", "push", "sms"]
CHANNELS: tuple[str, ...] = ("in_app", "email", "push", "sms")
EXTERNAL_CHANNELS: tuple[str, ...] = ("email", "push", "sms")
DELIVERY_STATUSES: tuple[str, ...] = (
    "pending",
    "deferred",
    "sent",
    "delivered",
    "failed",
    "bounced",
    "complained",
    "suppressed",
    "skipped",
)


@dataclass(frozen=True)
class DeliveryRef:
    """A delivery as routed when ``notify`` returned (the log has its later progress)."""

    id: str
    channel: str
    status: str
    provider: str | None = None
    provider_message_id: str | None = None
    error: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class NotifyResult:
    """What ``ctx.notify`` / ``app.notify`` returns: one delivery per channel as routed."""

    notification_id: str
    type: str
    to: str
    dedup_key: str
    deliveries: tuple[DeliveryRef, ...]
    created: bool = True
    """False when the dedup key was already used: these are the earlier deliveries."""

    def channel(self, name: str) -> DeliveryRef | None:
        """The delivery of channel ``name``, if it was routed."""
        return next((d for d in self.deliveries if d.channel == name), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "notification_id": self.notification_id,
            "type": self.type,
            "to": self.to,
            "dedup_key": self.dedup_key,
            "created": self.created,
            "deliveries": [
                {
                    "id": d.id,
                    "channel": d.channel,
                    "status": d.status,
                    "provider": d.provider,
                    "provider_message_id": d.provider_message_id,
                    "error": d.error,
                    "reason": d.reason,
                }
                for d in self.deliveries
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NotifyResult:
        return cls(
            notification_id=data["notification_id"],
            type=data["type"],
            to=data["to"],
            dedup_key=data["dedup_key"],
            created=bool(data.get("created", True)),
            deliveries=tuple(DeliveryRef(**d) for d in data["deliveries"]),
        )


@dataclass(frozen=True)
class InboxPage:
    """A page of the inbox, newest first; pass ``next_cursor`` to get the next one."""

    items: list[InboxItem]
    next_cursor: str | None
