"""The in-app inbox (``app.inbox``), the delivery log (``app.deliveries``) and the
outbox (``app.outbox``), as the client reads them."""

from __future__ import annotations

import asyncio
import base64
import builtins
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from tidings.errors import UnknownDeliveryError, ValidationError
from tidings.kernel import Kernel
from tidings.records.notify import (
    EXTERNAL_CHANNELS,
    Channel,
    Delivery,
    DeliveryStatus,
    InboxChange,
    InboxItem,
    InboxPage,
    OutboxEntry,
)

MAX_PAGE = 500


def _limit(limit: Any) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit must be an int from 1 to {MAX_PAGE}, got {limit!r}")
    return limit


def encode_cursor(item: InboxItem) -> str:
    micros = int(item.created_at.timestamp() * 1_000_000)
    raw = f"{micros}|{item.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        micros, item_id = raw.split("|", 1)
        when = datetime.fromtimestamp(int(micros) / 1_000_000, UTC)
    except (ValueError, UnicodeDecodeError, OverflowError, OSError):
        raise ValidationError(f"inbox cursor {cursor!r} is not one this inbox returned") from None
    return when, item_id


class Inbox:
    """``app.inbox``: each recipient's in-app notifications."""

    def __init__(self, kernel: Kernel) -> None:
        self._kernel = kernel

    def page(
        self,
        recipient_id: str,
        *,
        unread_only: bool = False,
        archived: bool = False,
        cursor: str | None = None,
        limit: int = 50,
    ) -> InboxPage:
        """One page, newest first; ``next_cursor`` is None on the last page.

        ``archived=True`` lists the archive instead of the inbox.
        """
        before = None if cursor is None else decode_cursor(cursor)
        n = _limit(limit)
        items = self._kernel.store.inbox.page(recipient_id, unread_only, archived, before, n + 1)
        more = len(items) > n
        items = items[:n]
        return InboxPage(items, encode_cursor(items[-1]) if more else None)

    def list(
        self,
        recipient_id: str,
        *,
        unread_only: bool = False,
        archived: bool = False,
        cursor: str | None = None,
        limit: int = 50,
    ) -> builtins.list[InboxItem]:
        """The items of one page, newest first (``page`` also gives the next cursor)."""
        return self.page(
            recipient_id, unread_only=unread_only, archived=archived, cursor=cursor, limit=limit
        ).items

    def unread_count(self, recipient_id: str) -> int:
        return self._kernel.store.inbox.unread_count(recipient_id)

    def mark_read(self, recipient_id: str, ids: Sequence[str]) -> int:
        """Mark the recipient's items ``ids`` read (others' ids are ignored); how many."""
        return self._mark(recipient_id, _ids(ids), "read")

    def mark_all_read(self, recipient_id: str) -> int:
        return self._mark(recipient_id, None, "read")

    def archive(self, recipient_id: str, ids: Sequence[str]) -> int:
        """Move the recipient's items ``ids`` out of the inbox into the archive."""
        return self._mark(recipient_id, _ids(ids), "archived")

    def changes_since(
        self, recipient_id: str, after_seq: int = 0, *, limit: int = 500
    ) -> builtins.list[InboxChange]:
        """The recipient's changes (created, read, archived) after ``after_seq``, in order.

        ``seq`` counts up by one per change of that recipient, in commit order, so a
        stream that resumes from the last seq it saw (SSE ``Last-Event-ID``) misses none.
        """
        if isinstance(after_seq, bool) or not isinstance(after_seq, int) or after_seq < 0:
            raise ValidationError(f"after_seq must be an int >= 0, got {after_seq!r}")
        return self._kernel.store.inbox.changes(recipient_id, after_seq, _limit(limit))

    def _mark(self, recipient_id: str, ids: builtins.list[str] | None, kind: str) -> int:
        return self._kernel.store.inbox.mark(recipient_id, ids, kind, self._kernel.clock.now())

    async def page_async(self, recipient_id: str, **options: Any) -> InboxPage:
        return await asyncio.to_thread(lambda: self.page(recipient_id, **options))

    async def list_async(self, recipient_id: str, **options: Any) -> builtins.list[InboxItem]:
        return await asyncio.to_thread(lambda: self.list(recipient_id, **options))

    async def unread_count_async(self, recipient_id: str) -> int:
        return await asyncio.to_thread(self.unread_count, recipient_id)

    async def mark_read_async(self, recipient_id: str, ids: Sequence[str]) -> int:
        return await asyncio.to_thread(self.mark_read, recipient_id, ids)

    async def mark_all_read_async(self, recipient_id: str) -> int:
        return await asyncio.to_thread(self.mark_all_read, recipient_id)

    async def archive_async(self, recipient_id: str, ids: Sequence[str]) -> int:
        return await asyncio.to_thread(self.archive, recipient_id, ids)

    async def changes_since_async(
        self, recipient_id: str, after_seq: int = 0, *, limit: int = 500
    ) -> builtins.list[InboxChange]:
        return await asyncio.to_thread(
            lambda: self.changes_since(recipient_id, after_seq, limit=limit)
        )


def _ids(ids: Sequence[str]) -> builtins.list[str]:
    if isinstance(ids, str) or not all(isinstance(i, str) for i in ids):
        raise ValidationError("ids must be a list of inbox item ids")
    return builtins.list(ids)


def _choice(value: str | None, allowed: Sequence[str], what: str) -> str | None:
    if value is not None and value not in allowed:
        raise ValidationError(f"unknown {what} {value!r} (use {', '.join(allowed)})")
    return value


class Deliveries:
    """``app.deliveries``: the delivery log."""

    def __init__(self, kernel: Kernel) -> None:
        self._kernel = kernel

    def list(
        self,
        to: str | None = None,
        type: str | None = None,
        channel: str | None = None,
        status: str | None = None,
        *,
        limit: int = 100,
    ) -> builtins.list[Delivery]:
        """Deliveries, newest first, filtered by recipient, type, channel and status."""
        return self._kernel.store.notifications.deliveries(
            to,
            type,
            _choice(channel, tuple(Channel), "channel"),
            _choice(status, tuple(DeliveryStatus), "delivery status"),
            _limit(limit),
        )

    def get(self, delivery_id: str) -> Delivery:
        found = self._kernel.store.notifications.delivery(delivery_id)
        if found is None:
            raise UnknownDeliveryError(f"no delivery with id {delivery_id!r}")
        return found

    def counts(self) -> dict[tuple[str, str], int]:
        """``(channel, status) -> number of deliveries`` (for metrics)."""
        return self._kernel.store.notifications.count_deliveries()

    async def list_async(self, *args: Any, **options: Any) -> builtins.list[Delivery]:
        return await asyncio.to_thread(lambda: self.list(*args, **options))

    async def get_async(self, delivery_id: str) -> Delivery:
        return await asyncio.to_thread(self.get, delivery_id)

    async def counts_async(self) -> dict[tuple[str, str], int]:
        return await asyncio.to_thread(self.counts)


class OutboxReader:
    """``app.outbox`` (and ``t.outbox`` in TestEngine): what the outbox provider caught."""

    def __init__(self, kernel: Kernel) -> None:
        self._kernel = kernel

    def list(
        self,
        to: str | None = None,
        type: str | None = None,
        channel: str | None = None,
        *,
        limit: int = 100,
    ) -> builtins.list[OutboxEntry]:
        """Captured messages, newest first; ``to`` matches the address or recipient id."""
        return self._kernel.store.notifications.outbox(
            to,
            type,
            _choice(channel, EXTERNAL_CHANNELS, "channel"),
            _limit(limit),
        )

    async def list_async(self, *args: Any, **options: Any) -> builtins.list[OutboxEntry]:
        return await asyncio.to_thread(lambda: self.list(*args, **options))
