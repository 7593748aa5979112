"""The notification part of the Store interface, and the rows it takes."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tidings.notify.records import (
    Delivery,
    InboxChange,
    InboxItem,
    OutboxEntry,
    Preference,
    PushToken,
    Recipient,
)

if TYPE_CHECKING:
    from tidings.store.base import NewRun


@dataclass(frozen=True)
class RecipientRow:
    id: str
    email: str | None
    phone: str | None
    locale: str | None
    timezone: str
    quiet_hours: tuple[str, str] | None
    data: str
    """JSON text."""
    given: frozenset[str] = frozenset()
    """The fields the caller set; an update keeps the others as stored."""


@dataclass(frozen=True)
class RoutingInputs:
    """Everything routing reads about a recipient, read in one transaction."""

    recipient: Recipient
    tokens: list[str]
    """Active push tokens, newest first."""
    preferences: dict[tuple[str, str], bool]
    """``(type id or '*', channel) -> enabled``."""
    suppressed: set[tuple[str, str]]
    """``(channel, address)`` pairs among this recipient's addresses that are suppressed."""


@dataclass(frozen=True)
class NewDelivery:
    id: str
    channel: str
    addresses: tuple[str, ...]
    locale: str
    status: str
    reason: str | None = None
    error: str | None = None
    subject: str | None = None
    html: str | None = None
    text: str | None = None
    title: str | None = None
    body: str | None = None
    sms: str | None = None
    """JSON text."""
    data: str = "{}"
    send_at: datetime | None = None
    run: NewRun | None = None
    """The durable run that sends it (external channels, pending or deferred)."""
    inbox_item_id: str | None = None
    """in_app: the inbox item written with it."""


@dataclass(frozen=True)
class NewNotification:
    id: str
    type_id: str
    recipient_id: str
    dedup_key: str
    data: str
    run_id: str | None
    critical: bool
    deliveries: tuple[NewDelivery, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class SendUpdate:
    """The end of a send (or one attempt of it), as the deliver task records it."""

    status: str
    provider: str | None
    provider_message_id: str | None
    attempts: int
    error: str | None
    history: str
    """JSON list."""
    sent_at: datetime | None
    suppress: Sequence[tuple[str, str]] = ()
    """``(channel, address)`` pairs to suppress."""
    deactivate: Sequence[str] = ()
    """Push tokens to deactivate."""


@dataclass(frozen=True)
class DigestSlot:
    digest_id: str
    run_id: str
    """The run holding the window (the one that will collect every item)."""
    closes_at: datetime


class NotifyStore(abc.ABC):
    """Recipients, preferences, deliveries, inbox, outbox, digests and settings."""

    @abc.abstractmethod
    def upsert_recipient(self, row: RecipientRow, now: datetime) -> Recipient: ...

    @abc.abstractmethod
    def get_recipient(self, recipient_id: str) -> Recipient | None: ...

    @abc.abstractmethod
    def delete_recipient(self, recipient_id: str) -> bool:
        """Delete the profile, tokens, preferences and inbox (the delivery log stays)."""

    @abc.abstractmethod
    def add_push_token(
        self,
        recipient_id: str,
        token: str,
        platform: str | None,
        device_name: str | None,
        now: datetime,
    ) -> PushToken | None:
        """Register (or move) a token; None if the recipient does not exist."""

    @abc.abstractmethod
    def list_push_tokens(self, recipient_id: str, active_only: bool) -> list[PushToken]: ...

    @abc.abstractmethod
    def deactivate_push_token(self, token: str, now: datetime) -> bool: ...

    @abc.abstractmethod
    def set_preference(
        self, recipient_id: str, type_id: str, channel: str, enabled: bool, now: datetime
    ) -> bool:
        """False if the recipient does not exist."""

    @abc.abstractmethod
    def list_preferences(self, recipient_id: str) -> list[Preference]: ...

    @abc.abstractmethod
    def suppress(self, channel: str, address: str, reason: str, now: datetime) -> None: ...

    @abc.abstractmethod
    def unsuppress(self, channel: str, address: str) -> bool: ...

    @abc.abstractmethod
    def is_suppressed(self, channel: str, address: str) -> bool: ...

    @abc.abstractmethod
    def routing_inputs(self, recipient_id: str) -> RoutingInputs | None: ...

    @abc.abstractmethod
    def find_notification(self, dedup_key: str, now: datetime) -> list[Delivery] | None:
        """The deliveries of the live notification holding ``dedup_key``, if any."""

    @abc.abstractmethod
    def record_notification(
        self, new: NewNotification, now: datetime, dedup_ttl: timedelta, idempotency_ttl: timedelta
    ) -> tuple[list[Delivery], bool]:
        """Reserve the dedup key and write the notification, its deliveries, inbox items
        and send runs in one transaction. If the key is held by a live notification,
        write nothing and return that one's deliveries with False."""

    @abc.abstractmethod
    def get_delivery(self, delivery_id: str) -> Delivery | None: ...

    @abc.abstractmethod
    def get_notification_data(self, notification_id: str) -> Any: ...

    @abc.abstractmethod
    def list_deliveries(
        self,
        recipient_id: str | None,
        type_id: str | None,
        channel: str | None,
        status: str | None,
        limit: int,
    ) -> list[Delivery]:
        """Newest first."""

    @abc.abstractmethod
    def update_delivery(self, delivery_id: str, update: SendUpdate, now: datetime) -> None:
        """Record a send's progress or end; suppress addresses / deactivate tokens with it."""

    @abc.abstractmethod
    def count_deliveries(self) -> dict[tuple[str, str], int]:
        """``(channel, status) -> count`` over the whole log (metrics)."""

    @abc.abstractmethod
    def capture_outbox(self, entry: OutboxEntry) -> bool:
        """Store a captured message once per (delivery, address); False if already there."""

    @abc.abstractmethod
    def list_outbox(
        self, to: str | None, type_id: str | None, channel: str | None, limit: int
    ) -> list[OutboxEntry]:
        """Newest first; ``to`` matches the address or the recipient id."""

    @abc.abstractmethod
    def list_inbox(
        self,
        recipient_id: str,
        unread_only: bool,
        archived: bool,
        before: tuple[datetime, str] | None,
        limit: int,
    ) -> list[InboxItem]:
        """Newest first, strictly older than ``before`` (created_at, id)."""

    @abc.abstractmethod
    def unread_count(self, recipient_id: str) -> int: ...

    @abc.abstractmethod
    def mark_inbox(
        self, recipient_id: str, ids: Sequence[str] | None, kind: str, now: datetime
    ) -> int:
        """Mark items (all unread ones when ``ids`` is None) ``read`` or ``archived``;
        only the recipient's own items change. Returns how many changed."""

    @abc.abstractmethod
    def inbox_changes(self, recipient_id: str, after_seq: int, limit: int) -> list[InboxChange]:
        """The recipient's changes with seq > ``after_seq``, oldest first."""

    @abc.abstractmethod
    def setting(self, key: str, default: str, now: datetime) -> str:
        """The stored value of ``key``; stores ``default`` first if there is none."""

    @abc.abstractmethod
    def get_setting(self, key: str) -> str | None:
        """The stored value of ``key``, or None; never writes."""

    @abc.abstractmethod
    def digest_add(
        self, key: str, source: str, item: str, run_id: str, closes_at: datetime, now: datetime
    ) -> DigestSlot:
        """Add an item to the open digest of ``key``, opening one held by ``run_id``
        (closing at ``closes_at``) if none is open. Adding the same ``source`` again
        returns the slot it joined."""

    @abc.abstractmethod
    def digest_close(self, digest_id: str, now: datetime) -> list[Any]:
        """Close the digest (later adds open a new one) and return its items in order."""
