"""The outbox provider: captures fully rendered messages in the database instead of
sending them. The default for every external channel in development and under
TestEngine; read what it caught with ``app.outbox.list(...)``."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar, Protocol

from tidings.ids import new_id
from tidings.providers.base import Channel, Message, Provider, ProviderError, SendResult
from tidings.records.notify import DeliveryStatus, OutboxEntry

if TYPE_CHECKING:
    from tidings.clock import Clock
    from tidings.store.base import Store


class Home(Protocol):
    """Where an outbox writes: the app's current store and clock (the kernel)."""

    @property
    def store(self) -> Store: ...

    @property
    def clock(self) -> Clock: ...


class Outbox(Provider):
    """Capture every message (email, push, SMS) in the app's database.

    A message sent again after a crash (same delivery, same address) is captured once.
    """

    name = "outbox"
    channels: ClassVar[frozenset[Channel]] = frozenset({Channel.EMAIL, Channel.PUSH, Channel.SMS})
    max_attempts = 3

    def __init__(self) -> None:
        self._home: Home | None = None

    def bind(self, home: Home) -> None:
        """Write to ``home``'s store, stamped by its clock (the notification service
        binds each outbox it holds once; the store is looked up at every send)."""
        self._home = home

    def _home_or_fail(self) -> Home:
        if self._home is None:
            raise RuntimeError("the outbox provider is not bound to an app's store")
        return self._home

    def _entry(self, home: Home, message: Message) -> OutboxEntry:
        return OutboxEntry(
            id=new_id("out"),
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
            created_at=home.clock.now(),
        )

    async def send(self, message: Message) -> SendResult:
        home = self._home_or_fail()
        entry = self._entry(home, message)
        await asyncio.to_thread(home.store.notifications.capture_outbox, entry)
        return SendResult(provider_message_id=entry.id, status=DeliveryStatus.SENT)

    async def send_batch(self, messages: Sequence[Message]) -> list[SendResult | ProviderError]:
        """Capture every message in one statement."""
        home = self._home_or_fail()
        entries = [self._entry(home, m) for m in messages]
        await asyncio.to_thread(home.store.notifications.capture_outbox_many, entries)
        return [SendResult(provider_message_id=e.id, status=DeliveryStatus.SENT) for e in entries]
