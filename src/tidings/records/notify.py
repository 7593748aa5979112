"""Records of notifications the store returns: recipients, deliveries, inbox, outbox;
and the vocabulary they are written in: :class:`Channel` and :class:`DeliveryStatus`."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class Channel(enum.StrEnum):
    """Where a notification goes. ``in_app`` is built in (the inbox); the others are
    external: sent by providers."""

    IN_APP = "in_app"
    EMAIL = "email"
    PUSH = "push"
    SMS = "sms"

    @property
    def external(self) -> bool:
        """Sent by a provider (everything but the inbox)."""
        return self is not Channel.IN_APP


EXTERNAL_CHANNELS: tuple[Channel, ...] = tuple(c for c in Channel if c.external)


class DeliveryStatus(enum.StrEnum):
    """Where one delivery (one channel of one notification) stands."""

    PENDING = "pending"
    """Routed; its send is queued (or, in-app, about to be written)."""
    DEFERRED = "deferred"
    """Held back (quiet hours) until its send time."""
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    SUPPRESSED = "suppressed"
    """Not sent: the recipient opted out or the address is suppressed."""
    SKIPPED = "skipped"
    """Not sent: nothing to send it to (no address, no push token)."""

    @property
    def final(self) -> bool:
        """The send is over: a re-executed delivery run must not send again."""
        return self not in (DeliveryStatus.PENDING, DeliveryStatus.DEFERRED)


@dataclass(frozen=True)
class Recipient:
    """Who notifications go to: addresses, language, timezone and quiet hours."""

    id: str
    email: str | None
    phone: str | None
    """E.164, e.g. ``+84901234567``."""
    locale: str | None
    timezone: str
    quiet_hours: tuple[str, str] | None
    """``("22:00", "07:00")`` in the recipient's timezone; push and SMS wait them out."""
    data: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class PushToken:
    token: str
    recipient_id: str
    platform: str | None
    device_name: str | None
    active: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Preference:
    """One setting; ``type`` None is the channel's global setting for every type."""

    recipient_id: str
    type: str | None
    channel: Channel
    enabled: bool


@dataclass(frozen=True)
class Delivery:
    """One channel of one notification, as the delivery log holds it."""

    id: str
    notification_id: str
    channel: Channel
    type: str
    to: str
    """The recipient id."""
    addresses: tuple[str, ...]
    """Email address, phone number, push tokens, or the recipient id (in_app)."""
    locale: str
    status: DeliveryStatus
    reason: str | None
    """Why it was skipped, suppressed or deferred."""
    provider: str | None
    provider_message_id: str | None
    attempts: int
    error: str | None
    subject: str | None
    html: str | None
    text: str | None
    title: str | None
    body: str | None
    sms: dict[str, Any] | None
    """``{"encoding": "GSM-7"|"UCS-2", "units": n, "segments": n}`` for SMS."""
    history: list[dict[str, Any]]
    """Every send attempt: provider, outcome, error, at (failover shows here)."""
    send_at: datetime | None
    """For a deferred delivery: when quiet hours end and it is sent."""
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    critical: bool = False
    sandboxed: bool = False
    """Sent to the outbox by the environment's sandbox (see ``tidings.notify.sandbox``)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "notification_id": self.notification_id,
            "channel": self.channel,
            "type": self.type,
            "to": self.to,
            "status": self.status,
            "reason": self.reason,
            "provider": self.provider,
            "provider_message_id": self.provider_message_id,
            "error": self.error,
            "sandboxed": self.sandboxed,
        }


@dataclass(frozen=True)
class InboxItem:
    id: str
    recipient_id: str
    type: str
    title: str | None
    body: str | None
    data: dict[str, Any]
    created_at: datetime
    read_at: datetime | None
    archived_at: datetime | None
    delivery_id: str = ""
    seen_at: datetime | None = None
    """When the recipient saw it in a list (the badge counts the unseen)."""
    snoozed_until: datetime | None = None
    """Hidden from the inbox until then; it comes back unread."""
    tags: tuple[str, ...] = ()
    """The notification's tags (``app.notify(..., tags=...)``)."""

    @property
    def read(self) -> bool:
        return self.read_at is not None


@dataclass(frozen=True)
class InboxCounts:
    """``app.inbox.counts``: unread and unseen leave out archived and snoozed items."""

    unread: int
    unseen: int
    archived: int

    def to_json(self) -> dict[str, int]:
        return {"unread": self.unread, "unseen": self.unseen, "archived": self.archived}


@dataclass(frozen=True)
class PreferenceChange:
    """One recorded change of a recipient's preferences: who, when, from where."""

    id: str
    recipient_id: str
    at: datetime
    actor: str
    origin: str | None
    change: dict[str, Any]


@dataclass(frozen=True)
class Erasure:
    """The audit of one erasure (``app.recipients.erase``): nothing about the person."""

    id: str
    erased_at: datetime
    actor: str
    """Who asked: ``app``, ``cli``, ``api key <name>``, ``dashboard <user>``, ``mcp``."""
    counts: dict[str, int]
    """Rows removed or anonymised, per table (tables left untouched are not listed)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "erased_at": self.erased_at.isoformat(),
            "actor": self.actor,
            "counts": dict(self.counts),
        }


@dataclass(frozen=True)
class InboxChange:
    """One entry of a recipient's change feed (the realtime stream resumes by ``seq``)."""

    seq: int
    kind: str
    """``created``, ``seen``, ``read``, ``unread``, ``archived``, ``unarchived``,
    ``snoozed`` or ``unsnoozed`` (a snoozed item come back)."""
    item_id: str
    at: datetime


@dataclass(frozen=True)
class OutboxEntry:
    """A message the outbox provider captured instead of sending."""

    id: str
    delivery_id: str
    channel: Channel
    to: str
    """The email address, phone number or push token."""
    recipient_id: str
    type: str
    locale: str
    subject: str | None
    html: str | None
    text: str | None
    title: str | None
    body: str | None
    data: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None


@dataclass(frozen=True)
class DeliveryRef:
    """A delivery as routed when ``notify`` returned (the log has its later progress)."""

    id: str
    channel: Channel
    status: DeliveryStatus
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
            deliveries=tuple(
                DeliveryRef(
                    **{**d, "channel": Channel(d["channel"]), "status": DeliveryStatus(d["status"])}
                )
                for d in data["deliveries"]
            ),
        )


@dataclass(frozen=True)
class InboxPage:
    """A page of the inbox, newest first; pass ``next_cursor`` to get the next one."""

    items: list[InboxItem]
    next_cursor: str | None


@dataclass(frozen=True)
class Topic:
    """An audience by name: ``app.notify(type, to=Topic("providers:imaging"))`` notifies
    every recipient subscribed to it (``app.topics.subscribe``)."""

    name: str


@dataclass(frozen=True)
class TopicPage:
    """One page of a topic's subscribers, in id order; ``cursor`` fetches the next
    (None: this was the last)."""

    topic: str
    subscribers: tuple[str, ...]
    cursor: str | None


@dataclass(frozen=True)
class Broadcast:
    """A broadcast's progress (``app.broadcasts.get``): one notification type to a
    whole audience, routed a page at a time by one durable run.

    ``total`` recipients were in the audience when it was made; ``routed`` of them have
    been routed so far (a recipient deleted meanwhile is passed over, a dedup key already
    held skips it); ``counts`` is ``{channel: {status: n}}`` over its deliveries as they
    are now; ``finished_at`` is set once every page is routed.
    """

    id: str
    type: str
    topic: str | None
    """The topic it went to; None for a list of recipients."""
    dedup_key: str
    run_id: str
    total: int
    routed: int
    counts: dict[str, dict[str, int]]
    created_at: datetime
    finished_at: datetime | None

    @property
    def finished(self) -> bool:
        return self.finished_at is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "topic": self.topic,
            "dedup_key": self.dedup_key,
            "run_id": self.run_id,
            "total": self.total,
            "routed": self.routed,
            "counts": self.counts,
            "created_at": self.created_at.isoformat(),
            "finished_at": None if self.finished_at is None else self.finished_at.isoformat(),
        }
