"""The outbox provider: captures fully rendered messages in the database instead of
sending them. The default for every external channel in development and under
TestEngine; read what it caught with ``app.outbox.list(...)``."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar

from tidings.ids import new_id
from tidings.providers.base import Channel, Message, Provider, SendResult
from tidings.records.notify import OutboxEntry

if TYPE_CHECKING:
    from tidings.clock import Clock
    from tidings.store.base import Store


class Outbox(Provider):
    """Capture every message (email, push, SMS) in the app's database.

    A message sent again after a crash (same delivery, same address) is captured once.
    """

    name = "outbox"
    channels: ClassVar[frozenset[Channel]] = frozenset({"email", "push", "sms"})
    max_attempts = 3

    def __init__(self) -> None:
        self._store: Store | None = None
        self._clock: Clock | None = None

    def bind(self, store: Store, clock: Clock) -> None:
        """Give it the database to write to (the app does this before each send)."""
        self._store, self._clock = store, clock

    async def send(self, message: Message) -> SendResult:
        if self._store is None:
            raise RuntimeError("the outbox provider is not bound to an app's store")
        entry_id = new_id("out")
        entry = OutboxEntry(
            id=entry_id,
            delivery_id=message.delivery_id,
            channel=message.channel,
            to=message.to,
            recipient_id="",  # taken from the delivery by the store
            type=message.type_id,
            locale=message.locale,
            subject=message.subject,
            html=message.html,
            text=message.text,
            title=message.title,
            body=message.body,
            data=dict(message.data),
            created_at=self._clock.now() if self._clock else datetime.now(UTC),
        )
        await asyncio.to_thread(self._store.notifications.capture_outbox, entry)
        return SendResult(provider_message_id=entry_id, status="sent")
