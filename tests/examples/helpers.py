"""Reading what the example apps sent: the outbox, the delivery log and the inbox."""

from __future__ import annotations

from typing import Any

from tidings import Tidings

SENT = ("sent", "delivered")


def outbox(app: Tidings, to: str, type_id: str, channel: str | None = None) -> list[Any]:
    """Messages the outbox caught for recipient ``to`` (id or address), oldest first."""
    return list(reversed(app.outbox.list(to=to, type=type_id, channel=channel, limit=500)))


def delivered(app: Tidings, to: str, type_id: str) -> dict[str, int]:
    """``{channel: number of deliveries sent}`` of one type to one recipient."""
    counts: dict[str, int] = {}
    for d in app.deliveries.list(to=to, type=type_id, limit=500):
        if d.status in SENT:
            counts[d.channel] = counts.get(d.channel, 0) + 1
    return counts


def statuses(app: Tidings, to: str, type_id: str) -> dict[str, str]:
    """``{channel: status}`` of the latest delivery of one type to one recipient."""
    result: dict[str, str] = {}
    for d in app.deliveries.list(to=to, type=type_id, limit=500):  # newest first
        result.setdefault(d.channel, d.status)
    return result


def inbox_types(app: Tidings, to: str) -> list[str]:
    """Types of the recipient's in-app notifications, oldest first."""
    return [item.type for item in reversed(app.inbox.list(to))]
