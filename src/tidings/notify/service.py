"""The notification service an app holds (``app.notifications``): declared types,
templates, channel providers, the sandbox, and the one routine that routes and records a
notification.

It sits on the kernel: a notification is recorded through the kernel's store, its
external deliveries become runs of the built-in ``tidings.deliver`` task made by the
kernel in the same transaction, and the kernel wakes the workers that send them."""

from __future__ import annotations

import difflib
import json
import logging
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pydantic

from tidings.errors import (
    ConfigError,
    UnknownNotificationTypeError,
    UnknownRecipientError,
    ValidationError,
)
from tidings.ids import new_id
from tidings.kernel import Kernel
from tidings.notify.privacy import erased_marker
from tidings.notify.recipients import check_recipient_id
from tidings.notify.router import ChannelExtras, erased_deliveries, plan
from tidings.notify.sandbox import allowed, check_allow_list
from tidings.notify.templates import Templates
from tidings.notify.types import NotificationType, describe, make_type
from tidings.notify.urls import RecipientLinks
from tidings.providers.base import Provider
from tidings.providers.outbox import Outbox
from tidings.records import DeliveryRef, NotifyResult
from tidings.records.notify import EXTERNAL_CHANNELS, Channel, Delivery
from tidings.store.notifications import NewNotification
from tidings.store.runs import NewRun

DELIVER_TASK = "tidings.deliver"
"""The built-in task that sends one delivery (see :mod:`tidings.notify.deliver`)."""
DELIVERY_KEY_PREFIX = "delivery:"
"""The idempotency key of a delivery's send run is this prefix and the delivery id."""
MAX_DEDUP_KEY = 255
log = logging.getLogger("tidings.notify")


def check_dedup_key(key: Any) -> str:
    if not isinstance(key, str) or not 0 < len(key) <= MAX_DEDUP_KEY:
        raise ValidationError("dedup_key must be a string of 1 to 255 characters")
    return key


def _check_channels(channels: Mapping[str, Sequence[Provider]] | None) -> dict[str, list[Provider]]:
    configured: dict[str, list[Provider]] = {}
    for channel, providers in (channels or {}).items():
        if channel not in EXTERNAL_CHANNELS:
            raise ConfigError(
                f"channels: unknown channel {channel!r} (configure {', '.join(EXTERNAL_CHANNELS)};"
                " in_app is built in)"
            )
        items: list[Provider] = [providers] if isinstance(providers, Provider) else list(providers)
        if not items:
            raise ConfigError(f"channels[{channel!r}] must list at least one provider")
        for p in items:
            if not isinstance(p, Provider):
                raise ConfigError(f"channels[{channel!r}] holds {p!r}, which is not a Provider")
            if channel not in p.channels:
                raise ConfigError(f"provider {p.name!r} cannot send {channel} messages")
        configured[channel] = items
    return configured


class Notifications:
    """Types, templates, providers and sandbox of one app, and the routing of each
    notification.

    Attributes:
        sandbox: True/False forces the sandbox on/off; None: on in every environment but
            production (see :mod:`tidings.notify.sandbox`).
        sandbox_allow: recipient ids and addresses still really sent to in a sandbox.
    """

    def __init__(
        self,
        kernel: Kernel,
        templates: str | Path | None,
        default_locale: str,
        channels: Mapping[str, Sequence[Provider]] | None,
        *,
        sandbox: bool | None = None,
        sandbox_allow: Sequence[str] = (),
    ) -> None:
        self.kernel = kernel
        self.templates = Templates(templates, default_locale)
        self.default_locale = self.templates.default_locale
        self._types: dict[str, NotificationType] = {}
        self._channels = _check_channels(channels)
        # Outboxes write through the kernel's store and clock (whichever is current), so
        # they are bound once here rather than before every send.
        self.outbox = self._bound(Outbox())
        for p in self.configured():
            if isinstance(p, Outbox):
                self._bound(p)
        self._test_outbox: Outbox | None = None
        self._lock = threading.Lock()
        self.sandbox = sandbox
        self.sandbox_allow: Sequence[str] = check_allow_list(sandbox_allow)
        self.links: RecipientLinks | None = None
        """Preference-centre and unsubscribe links (set by the client that owns this)."""

    def _bound(self, outbox: Outbox) -> Outbox:
        outbox.bind(self.kernel)
        return outbox

    @property
    def sandboxed(self) -> bool:
        """Whether external sends go to the outbox (see ``sandbox``)."""
        if self.sandbox is not None:
            return self.sandbox
        return self.kernel.environment != "production"

    # -- types -------------------------------------------------------------------------
    def register(
        self,
        type_id: str,
        *,
        channels: Sequence[str],
        critical: bool = False,
        templates: str | Path | None = None,
        data_model: type[pydantic.BaseModel] | None = None,
    ) -> NotificationType:
        ntype = make_type(
            type_id, channels=channels, critical=critical, templates=templates,
            data_model=data_model,
        )  # fmt: skip
        if ntype.templates is not None:
            ntype = NotificationType(
                ntype.id, ntype.channels, ntype.critical, ntype.templates.resolve(),
                ntype.data_model,
            )  # fmt: skip
        existing = self._types.get(type_id)
        if existing is not None and existing != ntype:
            raise ValidationError(
                f"notification type {type_id!r} is already declared with other settings"
            )
        self._types[type_id] = ntype
        return ntype

    @property
    def types(self) -> dict[str, NotificationType]:
        return dict(self._types)

    def get_type(self, type_id: str) -> NotificationType:
        found = self._types.get(type_id)
        if found is None:
            hint = difflib.get_close_matches(str(type_id), self._types, n=1)
            raise UnknownNotificationTypeError(
                f"unknown notification type {type_id!r}"
                + (
                    f" (did you mean {hint[0]!r}?)"
                    if hint
                    else f"; declared types: {describe(self._types)}"
                )
            )
        return found

    # -- providers ---------------------------------------------------------------------
    def providers(self, channel: str) -> list[Provider]:
        """The channel's failover list (the outbox unless configured; always under tests)."""
        if self._test_outbox is not None:
            return [self._test_outbox]
        return list(self._channels.get(channel) or [self.outbox])

    def divert(self, d: Delivery, address: str) -> list[Provider] | None:
        """The outbox in place of the channel's providers when the sandbox holds the
        send; None when it may go out as configured (or when the channel only has the
        outbox anyway: then the sandbox holds nothing back and the delivery is not
        marked)."""
        if not self.sandboxed or allowed(self.sandbox_allow, d, address):
            return None
        if all(isinstance(p, Outbox) for p in self.providers(d.channel)):
            return None
        return [self.outbox]

    def configured(self) -> list[Provider]:
        """Every provider configured on a channel, each once, in channel order."""
        seen: dict[int, Provider] = {}
        for providers in self._channels.values():
            for p in providers:
                seen.setdefault(id(p), p)
        return list(seen.values())

    async def aclose(self) -> None:
        """Close every configured provider's connections (``Provider.aclose``)."""
        for p in self.configured():
            try:
                await p.aclose()
            except Exception:  # one provider failing to close must not keep others open
                log.exception("closing provider %s failed", p.name)

    def capture_everything(self, on: bool) -> None:
        """TestEngine: send every channel to the outbox while on."""
        self._test_outbox = self._bound(Outbox()) if on else None

    # -- sending -----------------------------------------------------------------------
    def prepare(
        self, type_id: str, to: str, data: Any, channels: Sequence[str] | None
    ) -> tuple[NotificationType, tuple[Channel, ...], dict[str, Any]]:
        """Validate a notify call; raises before anything is written."""
        ntype = self.get_type(type_id)
        check_recipient_id(to)
        chosen = ntype.select(channels)
        return ntype, chosen, ntype.validate_data(data)

    def send(
        self,
        type_id: str,
        to: str,
        data: Any,
        channels: Sequence[str] | None,
        dedup_key: str,
        run_id: str | None,
        tags: tuple[str, ...] = (),
        extras: ChannelExtras | None = None,
    ) -> NotifyResult:
        """Route, render and record one notification (blocking; the db thread runs it).

        A dedup key held by a live notification returns that notification's deliveries
        and writes nothing.
        """
        kernel = self.kernel
        store = kernel.store
        ntype, chosen, payload = self.prepare(type_id, to, data, channels)
        now = kernel.clock.now()
        # A repeat (a resumed run, a reused dedup key) is found when recording, in the
        # same transaction; looking first would cost every first send a round trip.
        inputs = store.recipients.routing_inputs(to)
        if inputs is None:
            marker = erased_marker(kernel, to)
            if marker is None:
                raise UnknownRecipientError(
                    f"no recipient with id {to!r}: app.recipients.upsert({to!r}, ...) first"
                )
            return self._erased(ntype, chosen, marker, dedup_key, run_id, now)
        links = (
            {} if self.links is None else self.links.template_links(to, ntype.id, ntype.critical)
        )
        deliveries = plan(
            ntype, chosen, inputs, payload, self.templates, now, self._run_for, context=links,
            extras=extras,
        )  # fmt: skip
        new = NewNotification(
            id=new_id("ntf"),
            type_id=ntype.id,
            recipient_id=to,
            dedup_key=dedup_key,
            data=json.dumps(payload),
            run_id=run_id,
            critical=ntype.critical,
            deliveries=tuple(deliveries),
            tags=tags,
        )
        recorded, created = store.notifications.record(
            new, now, kernel.idempotency_ttl, kernel.idempotency_ttl
        )
        if created and any(d.run is not None for d in deliveries):
            kernel.wake()
        return _result(type_id, to, dedup_key, recorded, created=created)

    def _erased(
        self,
        ntype: NotificationType,
        chosen: Sequence[Channel],
        marker: str,
        dedup_key: str,
        run_id: str | None,
        now: datetime,
    ) -> NotifyResult:
        """Record a notification to an erased recipient: every channel ``skipped``
        (reason ``erased``), nothing about them kept (``marker`` in their place)."""
        new = NewNotification(
            id=new_id("ntf"),
            type_id=ntype.id,
            recipient_id=marker,
            dedup_key=dedup_key,
            data="{}",
            run_id=run_id,
            critical=ntype.critical,
            deliveries=tuple(erased_deliveries(chosen, self.default_locale)),
        )
        kernel = self.kernel
        recorded, created = kernel.store.notifications.record(
            new, now, kernel.idempotency_ttl, kernel.idempotency_ttl
        )
        return _result(ntype.id, marker, dedup_key, recorded, created=created)

    def _run_for(self, delivery_id: str, channel: Channel, send_at: datetime | None) -> NewRun:
        return self.kernel.new_run(
            DELIVER_TASK,
            {"delivery_id": delivery_id},
            idempotency_key=DELIVERY_KEY_PREFIX + delivery_id,
            run_at=send_at,
        )


def _result(
    type_id: str, to: str, dedup_key: str, deliveries: list[Delivery], *, created: bool
) -> NotifyResult:
    return NotifyResult(
        notification_id=deliveries[0].notification_id if deliveries else "",
        type=type_id,
        to=to,
        dedup_key=dedup_key,
        created=created,
        deliveries=tuple(
            DeliveryRef(
                id=d.id,
                channel=d.channel,
                status=d.status,
                provider=d.provider,
                provider_message_id=d.provider_message_id,
                error=d.error,
                reason=d.reason,
            )
            for d in deliveries
        ),
    )
