"""The notification vocabulary (channels, delivery statuses) and the inbox page.

The records the store returns (recipients, deliveries, inbox, outbox) live below the
store, in :mod:`tidings.records.notify`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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
class InboxPage:
    """A page of the inbox, newest first; pass ``next_cursor`` to get the next one."""

    items: list[InboxItem]
    next_cursor: str | None
