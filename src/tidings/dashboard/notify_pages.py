"""The notification pages: deliveries, one delivery's rendered message, the outbox,
recipients with their tokens, preferences and inbox. Read-only, run in a thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from tidings.app import Tidings
from tidings.errors import ValidationError
from tidings.notify.sms import sms_info
from tidings.records.notify import Channel, DeliveryStatus

CHANNELS = (Channel.EMAIL, Channel.SMS, Channel.PUSH, Channel.IN_APP)
"""The channels in the order the pages show them."""
DELIVERY_STATUSES = tuple(DeliveryStatus)
LIMIT = 100
# The email's own HTML runs in a sandboxed frame (no scripts, no same origin); this
# policy, first in its document, also stops it loading anything from outside.
EMAIL_CSP = (
    '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
    "img-src data:; style-src 'unsafe-inline'; font-src data:\">"
)


def _choice(q: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str | None:
    value = q.get(name, "").strip() or None
    if value is not None and value not in allowed:
        raise ValidationError(f"unknown {name} {value!r}; use one of {', '.join(allowed)}")
    return value


def deliveries_page(app: Tidings, q: Mapping[str, str]) -> dict[str, Any]:
    channel = _choice(q, "channel", CHANNELS)
    status = _choice(q, "status", DELIVERY_STATUSES)
    to = q.get("to", "").strip() or None
    type_id = q.get("type", "").strip() or None
    broadcast = q.get("broadcast", "").strip() or None
    if broadcast is not None:  # a broadcast's deliveries (recipient and type: its own)
        app.broadcasts.get(broadcast)  # unknown: a clear error
        rows = app.store.broadcasts.deliveries(broadcast, channel, status, LIMIT)
    else:
        rows = app.store.notifications.deliveries(to, type_id, channel, status, LIMIT)
    counts = app.store.notifications.count_deliveries()
    grid = {c: {s: counts.get((c, s), 0) for s in DELIVERY_STATUSES} for c in CHANNELS}
    failing = app.store.dashboard.failing_providers(app.clock.now() - timedelta(days=1))
    return {
        "deliveries": rows,
        "grid": grid,
        "statuses": DELIVERY_STATUSES,
        "channels": CHANNELS,
        "failing": failing,
        "params": {
            k: v
            for k, v in {
                "channel": channel,
                "status": status,
                "to": to,
                "type": type_id,
                "broadcast": broadcast,
            }.items()
            if v
        },
    }


def delivery_page(app: Tidings, delivery_id: str) -> dict[str, Any] | None:
    delivery = app.store.notifications.delivery(delivery_id)
    if delivery is None:
        return None
    text = delivery.text or delivery.body or ""
    return {
        "d": delivery,
        "email_doc": EMAIL_CSP + delivery.html if delivery.html else None,
        Channel.SMS: sms_info(text) if delivery.channel == Channel.SMS and text else None,
        "run_id": app.store.dashboard.notification_run(delivery.notification_id),
    }


def outbox_page(app: Tidings, q: Mapping[str, str]) -> dict[str, Any]:
    channel = _choice(q, "channel", CHANNELS)
    to = q.get("to", "").strip() or None
    return {
        "entries": app.store.notifications.outbox(to, None, channel, LIMIT),
        "channels": CHANNELS,
        "params": {k: v for k, v in {"channel": channel, "to": to}.items() if v},
    }


def recipients_page(app: Tidings, q: Mapping[str, str]) -> dict[str, Any]:
    after = q.get("after", "").strip() or None
    search = q.get("q", "").strip() or None
    rows = app.store.dashboard.list_recipients(search, after, LIMIT + 1)
    more = len(rows) > LIMIT
    rows = rows[:LIMIT]
    return {"recipients": rows, "next_after": rows[-1].id if more else None, "q": search or ""}


def recipient_page(app: Tidings, recipient_id: str) -> dict[str, Any] | None:
    store = app.store
    recipient = store.recipients.get(recipient_id)
    if recipient is None:
        return None
    return {
        "r": recipient,
        "tokens": store.recipients.push_tokens(recipient_id, False),
        "preferences": store.recipients.preferences(recipient_id),
        "inbox": store.inbox.page(recipient_id, "all", None, None, None, 50, app.clock.now()),
        "unread": store.inbox.unread_count(recipient_id, app.clock.now()),
        "changes": store.recipients.preference_changes(recipient_id, 20),
        "deliveries": store.notifications.deliveries(recipient_id, None, None, None, 20),
    }


def topics_page(app: Tidings, q: Mapping[str, str]) -> dict[str, Any]:
    after = q.get("after", "").strip() or None
    rows = app.topics.list(limit=LIMIT + 1, after=after)
    more = len(rows) > LIMIT
    rows = rows[:LIMIT]
    return {
        "topics": rows,
        "next_after": rows[-1][0] if more else None,
        "broadcasts": app.broadcasts.list(limit=20),
    }


def broadcast_page(app: Tidings, broadcast_id: str) -> dict[str, Any] | None:
    row = app.store.broadcasts.get(broadcast_id)
    if row is None:
        return None
    b = app.broadcasts.get(broadcast_id)
    return {"b": b, "channels": [c for c in CHANNELS if c in b.counts]}
