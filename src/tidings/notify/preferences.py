"""Preferences (``app.preferences``) and suppressed addresses (``app.suppressions``)."""

from __future__ import annotations

import asyncio
import builtins
import json
from collections.abc import Callable
from typing import Any

from tidings.errors import UnknownRecipientError, ValidationError
from tidings.ids import new_id
from tidings.kernel import Kernel
from tidings.notify.recipients import check_email, check_phone, check_token
from tidings.records.notify import EXTERNAL_CHANNELS, Channel, Preference, PreferenceChange
from tidings.store.recipients import GLOBAL_TYPE, ChangeNote


def _check_channel(channel: object, allowed: tuple[Channel, ...] = tuple(Channel)) -> Channel:
    if not isinstance(channel, str) or channel not in allowed:
        raise ValidationError(f"unknown channel {channel!r} (use {', '.join(allowed)})")
    return Channel(channel)


class Preferences:
    """Per recipient x type x channel opt-ins; ``type=None`` is the channel's global one.

    A type's own setting wins over the channel's global one; with neither, the recipient
    is opted in. Critical types ignore both.
    """

    def __init__(self, kernel: Kernel, types: Callable[[str], object]) -> None:
        """``types`` looks a notification type up (UnknownNotificationTypeError if none)."""
        self._kernel = kernel
        self._types = types

    def set(
        self,
        recipient_id: str,
        *,
        type: str | None,
        channel: str,
        enabled: bool,
        actor: str = "app",
        origin: str | None = "python",
    ) -> None:
        """Opt ``recipient_id`` in or out of ``type`` (None: every type) on ``channel``.

        The change is logged (``changes``) with ``actor`` (who) and ``origin`` (from
        where); the HTTP API and the preference centre fill them in.
        """
        _check_channel(channel)
        if not isinstance(enabled, bool):
            raise ValidationError(f"enabled must be True or False, got {enabled!r}")
        if type is not None:
            self._types(type)
        what = {"type": type, "channel": str(channel), "enabled": enabled}
        ok = self._kernel.store.recipients.set_preference(
            recipient_id, GLOBAL_TYPE if type is None else type, channel, enabled,
            self._kernel.clock.now(), _note(what, actor, origin),
        )  # fmt: skip
        if not ok:
            raise UnknownRecipientError(f"no recipient with id {recipient_id!r}")

    def note(
        self, recipient_id: str, change: dict[str, Any], *, actor: str, origin: str | None
    ) -> None:
        """Log a change of the recipient's settings made elsewhere (timezone, language,
        quiet hours through the preference centre)."""
        ok = self._kernel.store.recipients.note_change(
            recipient_id, _note(change, actor, origin), self._kernel.clock.now()
        )
        if not ok:
            raise UnknownRecipientError(f"no recipient with id {recipient_id!r}")

    def changes(self, recipient_id: str, *, limit: int = 50) -> builtins.list[PreferenceChange]:
        """Logged changes of the recipient's preferences, newest first: who, when, where."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 500:
            raise ValidationError(f"limit must be an int from 1 to 500, got {limit!r}")
        return self._kernel.store.recipients.preference_changes(recipient_id, limit)

    def get(self, recipient_id: str, *, type: str | None, channel: str) -> bool:
        """Whether ``type`` (None: any type, by the global setting) may use ``channel``."""
        chosen = _check_channel(channel)
        stored = {(p.type, p.channel): p.enabled for p in self.list(recipient_id)}
        if type is not None and (type, chosen) in stored:
            return stored[(type, chosen)]
        return stored.get((None, chosen), True)

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

    async def changes_async(
        self, recipient_id: str, *, limit: int = 50
    ) -> builtins.list[PreferenceChange]:
        return await asyncio.to_thread(lambda: self.changes(recipient_id, limit=limit))


def _note(change: dict[str, Any], actor: str, origin: str | None) -> ChangeNote:
    if not isinstance(actor, str) or not 0 < len(actor) <= 200:
        raise ValidationError(f"actor must be a string of 1 to 200 characters, got {actor!r}")
    if origin is not None and (not isinstance(origin, str) or len(origin) > 500):
        raise ValidationError(f"origin must be a string of up to 500 characters, got {origin!r}")
    return ChangeNote(new_id("pch"), actor, origin, json.dumps(change, sort_keys=True))


def normalise_address(channel: str, address: str) -> str:
    if channel == Channel.EMAIL:
        return check_email(address)
    if channel == Channel.SMS:
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
