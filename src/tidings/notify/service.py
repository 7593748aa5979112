"""The notification service an app holds (``app.notifications``): declared types,
templates, channel providers, and the one routine that routes and records a
notification."""

from __future__ import annotations

import difflib
import json
import logging
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pydantic

from tidings.errors import (
    ConfigError,
    UnknownNotificationTypeError,
    UnknownRecipientError,
    ValidationError,
)
from tidings.ids import new_id
from tidings.notify.deliver import DELIVER_TASK
from tidings.notify.recipients import check_recipient_id
from tidings.notify.records import EXTERNAL_CHANNELS, DeliveryRef, NotifyResult
from tidings.notify.router import plan
from tidings.notify.templates import Templates
from tidings.notify.types import NotificationType, describe, make_type
from tidings.providers.base import Provider
from tidings.providers.outbox import Outbox
from tidings.records.notify import Delivery
from tidings.store.notifications import NewNotification
from tidings.store.runs import NewRun

if TYPE_CHECKING:
    from tidings.app import Tidings

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
    """Types, templates and providers of one app, and the routing of each notification."""

    def __init__(
        self,
        app: Tidings,
        templates: str | Path | None,
        default_locale: str,
        channels: Mapping[str, Sequence[Provider]] | None,
    ) -> None:
        self._app = app
        self.templates = Templates(templates, default_locale)
        self.default_locale = self.templates.default_locale
        self._types: dict[str, NotificationType] = {}
        self._channels = _check_channels(channels)
        self._outbox = Outbox()
        self._test_outbox: Outbox | None = None
        self._lock = threading.Lock()

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
        chosen: list[Provider]
        if self._test_outbox is not None:
            chosen = [self._test_outbox]
        else:
            chosen = self._channels.get(channel) or [self._outbox]
        for p in chosen:
            if isinstance(p, Outbox):
                p.bind(self._app.store, self._app.clock)
        return chosen

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
        self._test_outbox = Outbox() if on else None

    # -- sending -----------------------------------------------------------------------
    def prepare(
        self, type_id: str, to: str, data: Any, channels: Sequence[str] | None
    ) -> tuple[NotificationType, tuple[str, ...], dict[str, Any]]:
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
    ) -> NotifyResult:
        """Route, render and record one notification (blocking; the db thread runs it).

        A dedup key held by a live notification returns that notification's deliveries
        and writes nothing.
        """
        app, store = self._app, self._app.store
        ntype, chosen, payload = self.prepare(type_id, to, data, channels)
        now = app.clock.now()
        # A repeat (a resumed run, a reused dedup key) is found when recording, in the
        # same transaction; looking first would cost every first send a round trip.
        inputs = store.recipients.routing_inputs(to)
        if inputs is None:
            raise UnknownRecipientError(
                f"no recipient with id {to!r}: app.recipients.upsert({to!r}, ...) first"
            )
        deliveries = plan(ntype, chosen, inputs, payload, self.templates, now, self._run_for)
        new = NewNotification(
            id=new_id("ntf"),
            type_id=ntype.id,
            recipient_id=to,
            dedup_key=dedup_key,
            data=json.dumps(payload),
            run_id=run_id,
            critical=ntype.critical,
            deliveries=tuple(deliveries),
        )
        recorded, created = store.notifications.record(
            new, now, app.idempotency_ttl, app.idempotency_ttl
        )
        if created and any(d.run is not None for d in deliveries):
            app._wake_workers()
        return _result(type_id, to, dedup_key, recorded, created=created)

    def _run_for(self, delivery_id: str, send_at: datetime | None) -> NewRun:
        return self._app._new_run(
            DELIVER_TASK,
            {"delivery_id": delivery_id},
            idempotency_key=f"delivery:{delivery_id}",
            delay=None,
            run_at=send_at,
            priority=None,
            queue=None,
            tags=None,
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
