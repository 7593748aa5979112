"""Bodies of the notification endpoints: recipients, tokens, preferences, deliveries,
and the inbox."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from tidings.limits import readable
from tidings.records.notify import (
    Broadcast,
    Channel,
    Delivery,
    Erasure,
    InboxItem,
    Preference,
    PushToken,
    Recipient,
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RecipientIn(_Strict):
    """Fields left out keep their stored values; ``null`` clears one."""

    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    locale: str | None = Field(default=None, max_length=35)
    timezone: str = Field(default="UTC", max_length=64)
    quiet_hours: list[str] | None = Field(
        default=None,
        min_length=2,
        max_length=2,
        description='["22:00", "07:00"] in the recipient\'s timezone.',
    )
    data: dict[str, Any] | None = None


class RecipientOut(BaseModel):
    id: str
    email: str | None
    phone: str | None
    locale: str | None
    timezone: str
    quiet_hours: list[str] | None
    data: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, r: Recipient) -> RecipientOut:
        fields = {**vars(r), "quiet_hours": list(r.quiet_hours) if r.quiet_hours else None}
        return cls(**readable(fields))


class PushTokenIn(_Strict):
    token: str = Field(min_length=1, max_length=4096)
    platform: str | None = Field(default=None, max_length=32)
    device_name: str | None = Field(default=None, max_length=200)


class PushTokenOut(BaseModel):
    token: str
    recipient_id: str
    platform: str | None
    device_name: str | None
    active: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, t: PushToken) -> PushTokenOut:
        return cls(**vars(t))


class DeactivateIn(_Strict):
    token: str = Field(min_length=1, max_length=4096)


class Deactivated(BaseModel):
    deactivated: bool


class PreferenceIn(_Strict):
    type: str | None = Field(default=None, max_length=200, description="null: every type.")
    channel: Channel
    enabled: bool


class PreferenceOut(BaseModel):
    type: str | None
    channel: str
    enabled: bool

    @classmethod
    def of(cls, p: Preference) -> PreferenceOut:
        return cls(type=p.type, channel=p.channel, enabled=p.enabled)


class TopicRef(_Strict):
    topic: str = Field(min_length=1, max_length=200)


class NotifyIn(_Strict):
    type: str = Field(min_length=1, max_length=200)
    to: str | TopicRef | list[str] = Field(
        description='A recipient id, {"topic": name} or a list of recipient ids (a broadcast)'
    )
    data: dict[str, Any] | None = None
    channels: list[Channel] | None = None
    dedup_key: str | None = Field(default=None, min_length=1, max_length=255)
    tags: list[str] | None = Field(
        default=None, max_length=20, description="Kept on the inbox item; filter by them."
    )


class NotifyOut(BaseModel):
    run_id: str
    created: bool = Field(description="False when the dedup key matched an earlier call.")
    broadcast_id: str | None = Field(
        default=None, description="A topic or a list: the broadcast (GET /broadcasts/{id})."
    )


class SubscribersIn(_Strict):
    recipients: list[str] = Field(max_length=10_000)


class SubscribersOut(BaseModel):
    topic: str
    subscribers: list[str]
    cursor: str | None = Field(description="Pass as ?cursor= for the next page; null: last.")


class SubscribedOut(BaseModel):
    topic: str
    subscribers: int = Field(description="How many the topic has now.")


class UnsubscribedOut(BaseModel):
    topic: str
    removed: int


class ErasureOut(BaseModel):
    """The audit of one erasure: nothing about the person."""

    id: str
    erased_at: datetime
    actor: str = Field(description="Who asked: app, cli, api key <name>, dashboard <user>, mcp.")
    counts: dict[str, int] = Field(description="Rows removed or anonymised, per table.")

    @classmethod
    def of(cls, e: Erasure) -> ErasureOut:
        return cls(id=e.id, erased_at=e.erased_at, actor=e.actor, counts=dict(e.counts))


class BroadcastOut(BaseModel):
    id: str
    type: str
    topic: str | None
    dedup_key: str
    run_id: str
    total: int
    routed: int
    counts: dict[str, dict[str, int]]
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, b: Broadcast) -> BroadcastOut:
        return cls(
            id=b.id, type=b.type, topic=b.topic, dedup_key=b.dedup_key, run_id=b.run_id,
            total=b.total, routed=b.routed, counts=b.counts, created_at=b.created_at,
            finished_at=b.finished_at,
        )  # fmt: skip


class DeliveryOut(BaseModel):
    id: str
    notification_id: str
    channel: str
    type: str
    to: str
    status: str
    reason: str | None
    provider: str | None
    provider_message_id: str | None
    attempts: int
    error: str | None
    locale: str
    sandboxed: bool
    send_at: datetime | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None

    @classmethod
    def of(cls, d: Delivery) -> DeliveryOut:
        fields = {name: getattr(d, name) for name in cls.model_fields}
        return cls(**readable(fields))


class InboxItemOut(BaseModel):
    id: str
    type: str
    title: str | None
    body: str | None
    data: dict[str, Any]
    created_at: datetime
    read_at: datetime | None
    archived_at: datetime | None
    seen_at: datetime | None = None
    snoozed_until: datetime | None = None
    tags: list[str] = Field(default_factory=list)
    question: dict[str, Any] | None = Field(
        default=None,
        description="The question the item asks (ctx.ask): its actions and, once answered, "
        "who answered what.",
    )

    @classmethod
    def of(cls, i: InboxItem) -> InboxItemOut:
        fields = {name: getattr(i, name) for name in cls.model_fields if name != "question"}
        return cls(**readable(fields))


class InboxPageOut(BaseModel):
    data: list[InboxItemOut]
    next_cursor: str | None
    unread_count: int
    counts: InboxCountsOut


class InboxCountsOut(BaseModel):
    unread: int = Field(description="Neither read, archived nor snoozed.")
    unseen: int = Field(description="Not yet shown in a list: what the badge shows.")
    archived: int


class UnreadCount(BaseModel):
    unread_count: int


class Marked(BaseModel):
    updated: int = Field(description="How many of this recipient's items changed.")
    not_found: int = Field(
        0, description="Ids given that are not in this inbox (another's, or made up)."
    )
    unread_count: int
    counts: InboxCountsOut | None = None


class InboxIds(_Strict):
    ids: list[Annotated[str, Field(min_length=1, max_length=255)]] = Field(
        min_length=1, max_length=500
    )


class SnoozeIn(InboxIds):
    until: datetime = Field(description="Timezone-aware, in the future.")


class StreamRefreshed(BaseModel):
    stream: str
    expires_at: datetime
