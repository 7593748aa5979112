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
    InboxCounts,
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


STATUSES = ("unread", "all", "archived")
UNSNOOZE_TASK = "tidings.inbox.unsnooze"
"""The built-in task whose run returns snoozed items at their time (a durable timer)."""
MAX_TAGS = 20
MAX_TAG = 100


def check_tags(tags: Any) -> tuple[str, ...]:
    """``tags=`` of ``notify``: up to 20 distinct non-empty strings of up to 100 chars."""
    if tags is None:
        return ()
    if isinstance(tags, str) or not isinstance(tags, Sequence | set | frozenset):
        raise ValidationError(f"tags must be a list of strings, got {tags!r}")
    out: builtins.list[str] = []
    for tag in tags:
        if not isinstance(tag, str) or not 0 < len(tag) <= MAX_TAG:
            raise ValidationError(
                f"each tag must be a string of 1 to {MAX_TAG} characters, got {tag!r}"
            )
        if tag not in out:
            out.append(tag)
    if len(out) > MAX_TAGS:
        raise ValidationError(f"at most {MAX_TAGS} tags, got {len(out)}")
    return tuple(out)


def _filter(values: Any, what: str) -> builtins.list[str] | None:
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, Sequence | set | frozenset) or not all(
        isinstance(v, str) and v for v in values
    ):
        raise ValidationError(f"{what} must be a list of non-empty strings, got {values!r}")
    return builtins.list(values)


class Inbox:
    """``app.inbox``: each recipient's in-app notifications.

    An item is unseen until a list shows it (``mark_seen``: the badge counts the unseen),
    unread until opened, and may be archived or snoozed (hidden until a time, then back
    unread). Every change is an entry of the recipient's change feed
    (:meth:`changes_since`), so every open stream converges. Ids of another recipient's
    items are ignored: every call returns how many of the recipient's items changed.
    """

    def __init__(self, kernel: Kernel) -> None:
        self._kernel = kernel

    def page(
        self,
        recipient_id: str,
        *,
        status: str = "all",
        types: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        cursor: str | None = None,
        limit: int = 50,
        unread_only: bool = False,
        archived: bool = False,
    ) -> InboxPage:
        """One page, newest first; ``next_cursor`` is None on the last page.

        ``status``: ``all`` (every item neither archived nor snoozed), ``unread`` (those
        of them not read) or ``archived``. ``types`` and ``tags`` keep items of any of
        the types / carrying any of the tags. ``unread_only`` and ``archived`` are the
        older spelling of ``status="unread"`` and ``status="archived"``.
        """
        if status not in STATUSES:
            raise ValidationError(f"unknown inbox status {status!r} (use {', '.join(STATUSES)})")
        if archived:
            status = "archived"
        elif unread_only:
            status = "unread"
        before = None if cursor is None else decode_cursor(cursor)
        n = _limit(limit)
        items = self._kernel.store.inbox.page(
            recipient_id,
            status,
            _filter(types, "types"),
            _filter(tags, "tags"),
            before,
            n + 1,
            self._kernel.clock.now(),
        )
        more = len(items) > n
        items = items[:n]
        return InboxPage(items, encode_cursor(items[-1]) if more else None)

    def list(
        self,
        recipient_id: str,
        *,
        status: str = "all",
        types: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        cursor: str | None = None,
        limit: int = 50,
        unread_only: bool = False,
        archived: bool = False,
    ) -> builtins.list[InboxItem]:
        """The items of one page, newest first (``page`` also gives the next cursor)."""
        return self.page(
            recipient_id, status=status, types=types, tags=tags, cursor=cursor, limit=limit,
            unread_only=unread_only, archived=archived,
        ).items  # fmt: skip

    def counts(self, recipient_id: str) -> InboxCounts:
        """Unread and unseen (archived and snoozed items left out), and archived."""
        return self._kernel.store.inbox.counts(recipient_id, self._kernel.clock.now())

    def unread_count(self, recipient_id: str) -> int:
        return self._kernel.store.inbox.unread_count(recipient_id, self._kernel.clock.now())

    def mark_seen(self, recipient_id: str, ids: Sequence[str]) -> int:
        """The recipient has seen ``ids`` in a list (the badge counts the unseen)."""
        return self._mark(recipient_id, _ids(ids), "seen")

    def mark_all_seen(self, recipient_id: str) -> int:
        return self._mark(recipient_id, None, "seen")

    def mark_read(self, recipient_id: str, ids: Sequence[str]) -> int:
        """Mark the recipient's items ``ids`` read (and seen); others' ids are ignored."""
        return self._mark(recipient_id, _ids(ids), "read")

    def mark_unread(self, recipient_id: str, ids: Sequence[str]) -> int:
        return self._mark(recipient_id, _ids(ids), "unread")

    def mark_all_read(self, recipient_id: str) -> int:
        """Every unread item in view (not archived, not snoozed)."""
        return self._mark(recipient_id, None, "read")

    def archive(self, recipient_id: str, ids: Sequence[str]) -> int:
        """Move the recipient's items ``ids`` out of the inbox into the archive."""
        return self._mark(recipient_id, _ids(ids), "archived")

    def unarchive(self, recipient_id: str, ids: Sequence[str]) -> int:
        return self._mark(recipient_id, _ids(ids), "unarchived")

    def archive_all_read(self, recipient_id: str) -> int:
        """Archive every read item in view."""
        return self._mark(recipient_id, None, "archived")

    def snooze(self, recipient_id: str, ids: Sequence[str], *, until: datetime) -> int:
        """Hide ``ids`` until ``until`` (aware, in the future); they come back unread.

        The return is a durable timer (a run of ``tidings.inbox.unsnooze`` at ``until``,
        made in the same transaction), so every open stream is told when it happens.
        Archived items are not snoozed.
        """
        chosen = _ids(ids)
        now = self._kernel.clock.now()
        if not isinstance(until, datetime) or until.tzinfo is None:
            raise ValidationError(f"until must be a timezone-aware datetime, got {until!r}")
        if until <= now:
            raise ValidationError(f"until must be in the future, got {until.isoformat()}")
        until = until.astimezone(UTC)
        micros = int(until.timestamp() * 1_000_000)
        timer = self._kernel.new_run(
            UNSNOOZE_TASK,
            {"recipient_id": recipient_id, "until": until.isoformat()},
            idempotency_key=f"unsnooze:{recipient_id}:{micros}",
            run_at=until,
        )
        changed = self._kernel.store.inbox.snooze(
            recipient_id, chosen, until, now, timer, self._kernel.idempotency_ttl
        )
        if changed:
            self._kernel.wake()
        return len(changed)

    def return_snoozed(self, recipient_id: str) -> int:
        """Bring back the recipient's items whose snooze is over (the timer's work)."""
        return self._mark(recipient_id, None, "unsnoozed")

    def changes_since(
        self, recipient_id: str, after_seq: int = 0, *, limit: int = 500
    ) -> builtins.list[InboxChange]:
        """The recipient's changes (see :class:`InboxChange`) after ``after_seq``, in order.

        ``seq`` counts up by one per change of that recipient, in commit order, so a
        stream that resumes from the last seq it saw (SSE ``Last-Event-ID``) misses none.
        """
        if isinstance(after_seq, bool) or not isinstance(after_seq, int) or after_seq < 0:
            raise ValidationError(f"after_seq must be an int >= 0, got {after_seq!r}")
        return self._kernel.store.inbox.changes(recipient_id, after_seq, _limit(limit))

    def _mark(self, recipient_id: str, ids: builtins.list[str] | None, kind: str) -> int:
        now = self._kernel.clock.now()
        return len(self._kernel.store.inbox.mark(recipient_id, ids, kind, now))

    async def page_async(self, recipient_id: str, **options: Any) -> InboxPage:
        return await asyncio.to_thread(lambda: self.page(recipient_id, **options))

    async def list_async(self, recipient_id: str, **options: Any) -> builtins.list[InboxItem]:
        return await asyncio.to_thread(lambda: self.list(recipient_id, **options))

    async def counts_async(self, recipient_id: str) -> InboxCounts:
        return await asyncio.to_thread(self.counts, recipient_id)

    async def unread_count_async(self, recipient_id: str) -> int:
        return await asyncio.to_thread(self.unread_count, recipient_id)

    async def mark_seen_async(self, recipient_id: str, ids: Sequence[str]) -> int:
        return await asyncio.to_thread(self.mark_seen, recipient_id, ids)

    async def mark_all_seen_async(self, recipient_id: str) -> int:
        return await asyncio.to_thread(self.mark_all_seen, recipient_id)

    async def mark_read_async(self, recipient_id: str, ids: Sequence[str]) -> int:
        return await asyncio.to_thread(self.mark_read, recipient_id, ids)

    async def mark_unread_async(self, recipient_id: str, ids: Sequence[str]) -> int:
        return await asyncio.to_thread(self.mark_unread, recipient_id, ids)

    async def mark_all_read_async(self, recipient_id: str) -> int:
        return await asyncio.to_thread(self.mark_all_read, recipient_id)

    async def archive_async(self, recipient_id: str, ids: Sequence[str]) -> int:
        return await asyncio.to_thread(self.archive, recipient_id, ids)

    async def unarchive_async(self, recipient_id: str, ids: Sequence[str]) -> int:
        return await asyncio.to_thread(self.unarchive, recipient_id, ids)

    async def archive_all_read_async(self, recipient_id: str) -> int:
        return await asyncio.to_thread(self.archive_all_read, recipient_id)

    async def snooze_async(self, recipient_id: str, ids: Sequence[str], *, until: datetime) -> int:
        return await asyncio.to_thread(lambda: self.snooze(recipient_id, ids, until=until))

    async def changes_since_async(
        self, recipient_id: str, after_seq: int = 0, *, limit: int = 500
    ) -> builtins.list[InboxChange]:
        return await asyncio.to_thread(
            lambda: self.changes_since(recipient_id, after_seq, limit=limit)
        )


MAX_IDS = 500


def _ids(ids: Sequence[str]) -> builtins.list[str]:
    if (
        isinstance(ids, str)
        or not isinstance(ids, Sequence | set | frozenset)
        or not all(isinstance(i, str) for i in ids)
    ):
        raise ValidationError("ids must be a list of inbox item ids")
    if len(ids) > MAX_IDS:
        raise ValidationError(f"at most {MAX_IDS} ids at once, got {len(ids)}")
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
