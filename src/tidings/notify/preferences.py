"""Preferences (``app.preferences``) and suppressed addresses (``app.suppressions``)."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Callable

from tidings.errors import UnknownRecipientError, ValidationError
from tidings.kernel import Kernel
from tidings.notify.recipients import check_email, check_phone, check_token
from tidings.notify.records import CHANNELS, EXTERNAL_CHANNELS
from tidings.records.notify import Preference
from tidings.store.recipients import GLOBAL_TYPE


def _check_channel(channel: object, allowed: tuple[str, ...] = CHANNELS) -> str:
    if channel not in allowed:
        raise ValidationError(f"unknown channel {channel!r} (use {', '.join(allowed)})")
    assert isinstance(channel, str)
    return channel


class Preferences:
    """Per recipient x type x channel opt-ins; ``type=None`` is the channel's global one.

    A type's own setting wins over the channel's global one; with neither, the recipient
    is opted in. Critical types ignore both.
    """

    def __init__(self, kernel: Kernel, types: Callable[[str], object]) -> None:
        """``types`` looks a notification type up (UnknownNotificationTypeError if none)."""
        self._kernel = kernel
        self._types = types

    def set(self, recipient_id: str, *, type: str | None, channel: str, enabled: bool) -> None:
        """Opt ``recipient_id`` in or out of ``type`` (None: every type) on ``channel``."""
        _check_channel(channel)
        if not isinstance(enabled, bool):
            raise ValidationError(f"enabled must be True or False, got {enabled!r}")
        if type is not None:
            self._types(type)
        ok = self._kernel.store.recipients.set_preference(
            recipient_id, GLOBAL_TYPE if type is None else type, channel, enabled,
            self._kernel.clock.now(),
        )  # fmt: skip
        if not ok:
            raise UnknownRecipientError(f"no recipient with id {recipient_id!r}")

    def get(self, recipient_id: str, *, type: str | None, channel: str) -> bool:
        """Whether ``type`` (None: any type, by the global setting) may use ``channel``."""
        _check_channel(channel)
        stored = {(p.type, p.channel): p.enabled for p in self.list(recipient_id)}
        if type is not None and (type, channel) in stored:
            return stored[(type, channel)]
        return stored.get((None, channel), True)

    def list(self, recipient_id: str) -> builtins.list[Preference]:
        """Every stored setting of the recipient."""
        return self._kernel.store.recipients.preferences(recipient_id)

    async def set_async(
        self, recipient_id: str, *, type: str | None, channel: str, enabled: bool
    ) -> None:
        await asyncio.to_thread(
            lambda: self.set(recipient_id, type=type, channel=channel, enabled=enabled)
        )

    async def get_async(self, recipient_id: str, *, type: str | None, channel: str) -> bool:
        return await asyncio.to_thread(lambda: self.get(recipient_id, type=type, channel=channel))

    async def list_async(self, recipient_id: str) -> builtins.list[Preference]:
        return await asyncio.to_thread(self.list, recipient_id)


def normalise_address(channel: str, address: str) -> str:
    if channel == "email":
        return check_email(address)
    if channel == "sms":
        return check_phone(address)
    return check_token(address)


class Suppressions:
    """Addresses nothing is sent to: hard bounces, complaints, numbers that cannot be reached.

    Providers add to it (a permanent error that says so); add and remove by hand here.
    """

    def __init__(self, kernel: Kernel) -> None:
        self._kernel = kernel

    def add(self, channel: str, address: str, *, reason: str = "added by hand") -> None:
        _check_channel(channel, EXTERNAL_CHANNELS)
        key = normalise_address(channel, address)
        self._kernel.store.recipients.suppress(channel, key, reason, self._kernel.clock.now())

    def remove(self, channel: str, address: str) -> bool:
        _check_channel(channel, EXTERNAL_CHANNELS)
        return self._kernel.store.recipients.unsuppress(
            channel, normalise_address(channel, address)
        )

    def contains(self, channel: str, address: str) -> bool:
        _check_channel(channel, EXTERNAL_CHANNELS)
        return self._kernel.store.recipients.is_suppressed(
            channel, normalise_address(channel, address)
        )

    async def add_async(self, channel: str, address: str, *, reason: str = "added by hand") -> None:
        await asyncio.to_thread(lambda: self.add(channel, address, reason=reason))

    async def remove_async(self, channel: str, address: str) -> bool:
        return await asyncio.to_thread(self.remove, channel, address)

    async def contains_async(self, channel: str, address: str) -> bool:
        return await asyncio.to_thread(self.contains, channel, address)
