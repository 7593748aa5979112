"""Notifications: the delivery log, the outbox, digests and settings."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tidings.records.notify import Channel, Delivery, DeliveryStatus, OutboxEntry
from tidings.store.runs import NewRun


@dataclass(frozen=True)
class NewDelivery:
    id: str
    channel: Channel
    addresses: tuple[str, ...]
    locale: str
    status: DeliveryStatus
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
    tags: tuple[str, ...] = ()
    """Kept on the inbox item (``app.inbox.list(..., tags=...)`` filters by them)."""


@dataclass(frozen=True)
class SendUpdate:
    """The end of a send (or one attempt of it), as the deliver task records it."""

    status: DeliveryStatus
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


class Notifications(abc.ABC):
    """``store.notifications``."""

    @abc.abstractmethod
    def find(self, dedup_key: str, now: datetime) -> list[Delivery] | None:
        """The deliveries of the live notification holding ``dedup_key``, if any."""

    @abc.abstractmethod
    def record(
        self, new: NewNotification, now: datetime, dedup_ttl: timedelta, idempotency_ttl: timedelta
    ) -> tuple[list[Delivery], bool]:
        """Reserve the dedup key and write the notification, its deliveries, inbox items
        and send runs in one transaction. If the key is held by a live notification,
        write nothing and return that one's deliveries with False."""

    @abc.abstractmethod
    def data(self, notification_id: str) -> Any:
        """The data the notification was sent with (None if there is no such one)."""

    @abc.abstractmethod
    def delivery_data(self, delivery_id: str) -> Any:
        """The data a push or in-app delivery carries: the notification's, plus what its
        channel added (a question's actions); None if there is no such delivery."""

    @abc.abstractmethod
    def delivery(self, delivery_id: str) -> Delivery | None: ...

    @abc.abstractmethod
    def deliveries(
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
    def deliveries_many(self, delivery_ids: Sequence[str]) -> list[Delivery]:
        """The deliveries among ``delivery_ids`` that exist, in the order given."""

    @abc.abstractmethod
    def update_deliveries(self, updates: Sequence[tuple[str, SendUpdate]], now: datetime) -> None:
        """Record the end of many sends in one transaction (as :meth:`update_delivery`)."""

    @abc.abstractmethod
    def mark_sandboxed(self, delivery_id: str) -> None:
        """Record that the sandbox sent this delivery to the outbox."""

    @abc.abstractmethod
    def count_deliveries(self) -> dict[tuple[str, str], int]:
        """``(channel, status) -> count`` over the whole log (metrics)."""

    @abc.abstractmethod
    def capture_outbox(self, entry: OutboxEntry) -> bool:
        """Store a captured message once per (delivery, address); False if already there."""

    @abc.abstractmethod
    def capture_outbox_many(self, entries: Sequence[OutboxEntry]) -> None:
        """Store many captured messages in one statement, each once per (delivery,
        address)."""

    @abc.abstractmethod
    def outbox(
        self, to: str | None, type_id: str | None, channel: str | None, limit: int
    ) -> list[OutboxEntry]:
        """Newest first; ``to`` matches the address or the recipient id."""

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
