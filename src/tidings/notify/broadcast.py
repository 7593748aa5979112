"""Topics and broadcasts: one notification type to a whole audience.

``app.notify(type, to=Topic(...) | [ids...])`` makes a broadcast: its audience (the
topic's subscribers then, or the list, each recipient once) is fixed in the transaction
that records it together with one run of the built-in ``tidings.broadcast`` task. That
run walks the audience a page at a time (:data:`PAGE` recipients, in id order): each page
is a step whose result is the cursor after it. A page reads what routing needs about
its recipients in one statement per table, routes each recipient by the same rules as a
single notification (:func:`tidings.notify.router.plan`), and records every
notification, delivery, inbox item and change-feed row of the page, the runs that send
its external deliveries (``tidings.deliver_batch``, :data:`BATCH` deliveries each) and
the advanced cursor in one transaction. The cursor only advances from where the page
started, so a page routed again after a crash (the step's result was not saved) is
recorded once: no recipient is skipped or notified twice.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from tidings.errors import (
    UnknownBroadcastError,
    UnknownRecipientError,
    ValidationError,
)
from tidings.handle import BroadcastHandle, broadcast_record
from tidings.ids import new_id
from tidings.kernel import Kernel, TaskContext
from tidings.limits import check_json
from tidings.notify.recipients import check_recipient_id
from tidings.notify.router import plan
from tidings.notify.service import Notifications
from tidings.records.notify import Broadcast, Channel, Topic, TopicPage
from tidings.store.broadcasts import NewBroadcast, PageRecord
from tidings.store.notifications import NewNotification
from tidings.store.runs import NewRun

BROADCAST_TASK = "tidings.broadcast"
DELIVER_BATCH_TASK = "tidings.deliver_batch"
PAGE = 500
"""Recipients routed and recorded per transaction."""
BATCH = 100
"""Deliveries per delivery run (Resend's and Expo's request limit)."""
MAX_TOPIC = 200
MAX_PAGE = 1000


def check_topic(name: Any) -> str:
    """A topic name: 1 to 200 characters, no control characters."""
    if isinstance(name, Topic):
        name = name.name
    if not isinstance(name, str) or not name:
        raise ValidationError(f"topic name must be a non-empty string, got {name!r}")
    if len(name) > MAX_TOPIC:
        raise ValidationError(
            f"topic name {name[:40]!r}... is {len(name)} characters long (at most {MAX_TOPIC})"
        )
    if any(unicodedata.category(c) == "Cc" for c in name):
        raise ValidationError(f"topic name {name!r} holds a control character")
    check_json(name, "topic name")  # no lone surrogates
    return name


def check_recipient_ids(ids: Any, what: str = "recipient ids") -> list[str]:
    """A list of recipient ids, each checked, duplicates dropped (first kept)."""
    if isinstance(ids, str) or not isinstance(ids, Sequence):
        raise ValidationError(f"{what} must be a list of recipient ids, got {ids!r}")
    return list(dict.fromkeys(check_recipient_id(i) for i in ids))


def _unknown(missing: Sequence[str]) -> UnknownRecipientError:
    shown = ", ".join(repr(m) for m in missing[:5])
    more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
    return UnknownRecipientError(
        f"no recipient with id {shown}{more}: app.recipients.upsert(...) them first"
    )


class Topics:
    """``app.topics``: which recipients subscribe to which topic (per environment)."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    def subscribe(self, topic: str | Topic, recipient_ids: Sequence[str]) -> None:
        """Subscribe every recipient to ``topic`` (those already subscribed stay). An
        unknown recipient is an error naming it, and nobody is subscribed."""
        name = check_topic(topic)
        ids = check_recipient_ids(recipient_ids)
        if not ids:
            return
        missing = self.kernel.store.topics.subscribe(name, ids, self.kernel.clock.now())
        if missing:
            raise _unknown(missing)

    def unsubscribe(self, topic: str | Topic, recipient_ids: Sequence[str]) -> int:
        """Remove these subscriptions (absent ones are ignored); how many were removed."""
        name = check_topic(topic)
        ids = check_recipient_ids(recipient_ids)
        return self.kernel.store.topics.unsubscribe(name, ids) if ids else 0

    def subscribers(
        self, topic: str | Topic, *, limit: int = 100, cursor: str | None = None
    ) -> TopicPage:
        """One page of subscriber ids in id order; pass ``page.cursor`` for the next."""
        name = check_topic(topic)
        if not isinstance(limit, int) or not 0 < limit <= MAX_PAGE:
            raise ValidationError(f"limit must be 1 to {MAX_PAGE}, got {limit!r}")
        if cursor is not None and not isinstance(cursor, str):
            raise ValidationError(f"cursor must be a string from a previous page, got {cursor!r}")
        ids = self.kernel.store.topics.subscribers(name, cursor or "", limit + 1)
        more = len(ids) > limit
        ids = ids[:limit]
        return TopicPage(name, tuple(ids), ids[-1] if more else None)

    def of(self, recipient_id: str) -> builtins.list[str]:
        """The topics ``recipient_id`` subscribes to, by name."""
        return self.kernel.store.topics.of(check_recipient_id(recipient_id))

    def delete(self, topic: str | Topic) -> int:
        """Remove the topic (every subscription of it); how many subscribers it had."""
        return self.kernel.store.topics.delete(check_topic(topic))

    def count(self, topic: str | Topic) -> int:
        return self.kernel.store.topics.count(check_topic(topic))

    def list(self, *, limit: int = 100, after: str | None = None) -> builtins.list[tuple[str, int]]:
        """``(topic, subscribers)`` in name order, after ``after``."""
        if not isinstance(limit, int) or not 0 < limit <= MAX_PAGE:
            raise ValidationError(f"limit must be 1 to {MAX_PAGE}, got {limit!r}")
        return self.kernel.store.topics.list(after or "", limit)

    async def subscribe_async(self, topic: str | Topic, recipient_ids: Sequence[str]) -> None:
        await asyncio.to_thread(self.subscribe, topic, recipient_ids)

    async def unsubscribe_async(self, topic: str | Topic, recipient_ids: Sequence[str]) -> int:
        return await asyncio.to_thread(self.unsubscribe, topic, recipient_ids)

    async def subscribers_async(
        self, topic: str | Topic, *, limit: int = 100, cursor: str | None = None
    ) -> TopicPage:
        return await asyncio.to_thread(lambda: self.subscribers(topic, limit=limit, cursor=cursor))

    async def of_async(self, recipient_id: str) -> builtins.list[str]:
        return await asyncio.to_thread(self.of, recipient_id)

    async def delete_async(self, topic: str | Topic) -> int:
        return await asyncio.to_thread(self.delete, topic)


class Broadcasts:
    """``app.broadcasts``: a broadcast's progress."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    def get(self, broadcast_id: str) -> Broadcast:
        row = self.kernel.store.broadcasts.get(str(broadcast_id))
        if row is None:
            raise UnknownBroadcastError(f"no broadcast with id {broadcast_id!r}")
        return broadcast_record(self.kernel, row)

    def list(self, *, limit: int = 50) -> builtins.list[Broadcast]:
        """Newest first."""
        if not isinstance(limit, int) or not 0 < limit <= MAX_PAGE:
            raise ValidationError(f"limit must be 1 to {MAX_PAGE}, got {limit!r}")
        return [broadcast_record(self.kernel, r) for r in self.kernel.store.broadcasts.list(limit)]

    async def get_async(self, broadcast_id: str) -> Broadcast:
        return await asyncio.to_thread(self.get, broadcast_id)

    async def list_async(self, *, limit: int = 50) -> builtins.list[Broadcast]:
        return await asyncio.to_thread(lambda: self.list(limit=limit))


def audience(to: Any) -> tuple[str | None, tuple[str, ...] | None]:
    """``(topic, None)`` or ``(None, recipient ids)`` of a broadcast's ``to``."""
    if isinstance(to, Topic):
        return check_topic(to.name), None
    return None, tuple(check_recipient_ids(to, "to"))


def start(
    service: Notifications,
    type_id: str,
    to: Any,
    data: Any,
    channels: Sequence[str] | None,
    key: str,
    tags: tuple[str, ...] = (),
) -> BroadcastHandle:
    """Check and record a broadcast with its run (nothing is written on bad input).

    ``tags`` (checked by the caller) go on every inbox item the broadcast makes."""
    kernel = service.kernel
    ntype = service.get_type(type_id)
    chosen = ntype.select(channels)
    payload = ntype.validate_data(data)
    topic, recipients = audience(to)
    store = kernel.store
    if recipients:
        missing = store.recipients.missing(recipients)
        if missing:
            raise _unknown(missing)
    broadcast_id = new_id("bct")
    run = kernel.new_run(
        BROADCAST_TASK,
        {"broadcast_id": broadcast_id},
        idempotency_key=key,
    )
    new = NewBroadcast(
        id=broadcast_id,
        type_id=ntype.id,
        topic=topic,
        recipients=recipients,
        data=json.dumps(payload),
        channels=None if channels is None else json.dumps([str(c) for c in chosen]),
        dedup_key=key,
        run=run,
        tags=tags,
    )
    row, created = store.broadcasts.create(new, kernel.clock.now(), kernel.idempotency_ttl)
    if created:
        kernel.wake()
    return BroadcastHandle(kernel, row.id, row.run_id, created=created)


def route_page(service: Notifications, broadcast_id: str, cursor: str) -> dict[str, Any]:
    """Route and record the page after ``cursor`` (blocking); the cursor after it."""
    kernel = service.kernel
    store = kernel.store
    row = store.broadcasts.get(broadcast_id)
    if row is None:
        return {"next": cursor, "done": True, "recorded": 0}
    if row.finished_at is not None or row.cursor != cursor:  # recorded before a crash
        return {"next": row.cursor, "done": row.finished_at is not None, "recorded": 0}
    ntype = service.get_type(row.type_id)
    chosen = ntype.select(None if row.channels is None else json.loads(row.channels))
    payload = json.loads(row.data)
    ids = store.broadcasts.page(broadcast_id, cursor, PAGE)
    now = kernel.clock.now()
    inputs = store.recipients.routing_inputs_many(ids)
    batches: dict[tuple[Channel, datetime | None], list[str]] = {}

    def batched(delivery_id: str, channel: Channel, send_at: datetime | None) -> None:
        batches.setdefault((channel, send_at), []).append(delivery_id)

    notifications = []
    for rid in ids:
        found = inputs.get(rid)
        if found is None:  # deleted since the broadcast was made
            continue
        links = (
            {}
            if service.links is None
            else service.links.template_links(rid, ntype.id, ntype.critical)
        )
        deliveries = plan(
            ntype, chosen, found, payload, service.templates, now, batched, context=links
        )
        notifications.append(
            NewNotification(
                id=new_id("ntf"),
                type_id=ntype.id,
                recipient_id=rid,
                dedup_key=f"{row.dedup_key}/{rid}",
                data=row.data,
                run_id=row.run_id,
                critical=ntype.critical,
                deliveries=tuple(deliveries),
                tags=row.tags,
            )
        )
    runs: list[NewRun] = []
    for (_, send_at), delivery_ids in batches.items():
        for i in range(0, len(delivery_ids), BATCH):
            chunk = delivery_ids[i : i + BATCH]
            runs.append(kernel.new_run(DELIVER_BATCH_TASK, {"delivery_ids": chunk}, run_at=send_at))
    page = PageRecord(
        broadcast_id=broadcast_id,
        cursor=cursor,
        next=ids[-1] if ids else cursor,
        finished=len(ids) < PAGE,
        notifications=notifications,
        runs=runs,
    )
    after, recorded = store.broadcasts.record_page(
        page, now, kernel.idempotency_ttl, kernel.idempotency_ttl
    )
    if recorded and runs:
        kernel.wake()
    return {"next": after.cursor, "done": after.finished_at is not None, "recorded": recorded}


async def run_broadcast(
    service: Notifications, ctx: TaskContext, payload: dict[str, Any]
) -> dict[str, Any]:
    """The body of ``tidings.broadcast``: every page, each a step returning its cursor."""
    broadcast_id = str(payload["broadcast_id"])
    cursor = ""
    while True:
        page = await ctx.step("page", route_page, service, broadcast_id, cursor)
        if page["done"]:
            break
        cursor = page["next"]
    row = await asyncio.to_thread(service.kernel.store.broadcasts.get, broadcast_id)
    if row is None:
        raise UnknownBroadcastError(f"no broadcast with id {broadcast_id!r}")
    return {
        "broadcast_id": broadcast_id,
        "total": row.total,
        "routed": row.routed,
    }
