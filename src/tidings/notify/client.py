"""The notification half of the client API, mixed into :class:`tidings.Tidings`."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pydantic

from tidings.errors import ConfigError
from tidings.handle import RunHandle
from tidings.ids import new_id
from tidings.notify.deliver import DELIVER_TASK, deliver
from tidings.notify.inbox import Deliveries, Inbox, OutboxReader
from tidings.notify.preferences import Preferences, Suppressions
from tidings.notify.recipients import Recipients
from tidings.notify.records import NotifyResult
from tidings.notify.service import Notifications, check_dedup_key
from tidings.notify.tokens import sign_token, verify_token
from tidings.notify.types import NotificationType
from tidings.options import Retry
from tidings.providers.base import Provider
from tidings.providers.receipts import RECEIPTS_TASK, receipt_tasks
from tidings.tasks import TaskDef, make_task

if TYPE_CHECKING:
    from tidings.app import Tidings
    from tidings.engine.context import Context

NOTIFY_TASK = "tidings.notify"
INTERNAL_TASKS = frozenset({NOTIFY_TASK, DELIVER_TASK, RECEIPTS_TASK})
"""Built-in tasks: they run like any other (and show in runs) but are not listed as the
app's tasks."""
SECRET_SETTING = "signing_secret"
INBOX_TTL = timedelta(hours=12)


class NotifyHandle(RunHandle):
    """What ``app.notify`` returns: the run that records the notification.

    ``result()`` waits for it and returns the :class:`NotifyResult` (the deliveries as
    routed; external channels are then sent by their own runs, see ``app.deliveries``).
    """

    def result(self, timeout: timedelta | float | None = None) -> NotifyResult:
        return NotifyResult.from_json(super().result(timeout))

    async def result_async(self, timeout: timedelta | float | None = None) -> NotifyResult:
        return NotifyResult.from_json(await super().result_async(timeout))


def internal_tasks(app: Tidings) -> list[TaskDef]:
    async def tidings_deliver(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
        return await deliver(app, ctx, payload)

    async def tidings_notify(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
        result = await ctx.notify(
            payload["type"],
            to=payload["to"],
            data=payload.get("data"),
            channels=payload.get("channels"),
            dedup_key=payload["dedup_key"],
            name="notify",
        )
        return result.to_json()

    retry = Retry(max_attempts=5)
    return [
        make_task(tidings_deliver, id=DELIVER_TASK, retry=retry, queue="default", priority=0,
                  timeout=None),
        make_task(tidings_notify, id=NOTIFY_TASK, retry=retry, queue="default", priority=0,
                  timeout=None),
    ]  # fmt: skip


class NotifyClient:
    """Notification types, recipients, preferences, inbox, outbox and ``notify``."""

    notifications: Notifications
    recipients: Recipients
    preferences: Preferences
    suppressions: Suppressions
    inbox: Inbox
    outbox: OutboxReader
    deliveries: Deliveries
    _secret_key: bytes | None

    @property
    def _app(self) -> Tidings:
        return cast("Tidings", self)

    def _init_notify(
        self,
        templates: str | Path | None,
        default_locale: str,
        channels: Mapping[str, Sequence[Provider]] | None,
        secret_key: str | bytes | None,
    ) -> None:
        self.notifications = Notifications(self._app, templates, default_locale, channels)
        self.recipients = Recipients(self._app)
        self.preferences = Preferences(self._app)
        self.suppressions = Suppressions(self._app)
        self.inbox = Inbox(self._app)
        self.outbox = OutboxReader(self._app)
        self.deliveries = Deliveries(self._app)
        raw = secret_key if secret_key is not None else os.environ.get("TIDINGS_SECRET_KEY")
        if raw is not None and len(raw) < 16:
            raise ConfigError(
                "the signing secret (secret_key / $TIDINGS_SECRET_KEY) needs 16+ characters"
            )
        self._secret_key = raw.encode() if isinstance(raw, str) else raw
        for task in [*internal_tasks(self._app), *receipt_tasks(self._app, channels)]:
            self._app._tasks[task.id] = task

    def notification_type(
        self,
        id: str,
        *,
        channels: Sequence[str],
        critical: bool = False,
        templates: str | Path | None = None,
        data_model: type[pydantic.BaseModel] | None = None,
    ) -> NotificationType:
        """Declare a notification type.

        Args:
            id: its name, also its folder under the templates root.
            channels: where it goes: any of ``in_app``, ``email``, ``push``, ``sms``.
            critical: ignore opt-outs and quiet hours (suppressed addresses still hold).
            templates: a templates root of its own (holding ``<id>/<locale>/...``).
            data_model: a pydantic model ``data`` must match (checked on notify).
        """
        return self.notifications.register(
            id, channels=channels, critical=critical, templates=templates, data_model=data_model
        )

    def notify(
        self,
        type: str,
        *,
        to: str,
        data: Any = None,
        channels: Sequence[str] | None = None,
        dedup_key: str | None = None,
    ) -> NotifyHandle:
        """Send a notification from outside a task, as a durable run of ``tidings.notify``.

        The call is checked now (unknown type or recipient, data not matching the type's
        model, a channel the type does not declare: an error, nothing recorded). With a
        ``dedup_key``, repeating the call within the idempotency window returns the first
        run and sends nothing again; without one, every call is a new notification.
        Returns a handle whose ``result()`` is the :class:`NotifyResult`.
        """
        _, chosen, payload = self.notifications.prepare(type, to, data, channels)
        self.recipients.get(to)
        key = check_dedup_key(dedup_key) if dedup_key is not None else new_id("ntf")
        handle = self._app.trigger(
            NOTIFY_TASK,
            {
                "type": type,
                "to": to,
                "data": payload,
                "channels": None if channels is None else list(chosen),
                "dedup_key": key,
            },
            idempotency_key=key,
        )
        return NotifyHandle(self._app, handle.id, created=handle.created)

    async def notify_async(self, type: str, **options: Any) -> NotifyHandle:
        return await asyncio.to_thread(lambda: self.notify(type, **options))

    # -- inbox tokens ------------------------------------------------------------------
    def signing_secret(self) -> bytes:
        """The environment's signing secret: ``secret_key`` / ``$TIDINGS_SECRET_KEY``, or
        outside production one generated once and kept in the database (so every process
        sharing it agrees). Production without one is a ConfigError."""
        if self._secret_key is not None:
            return self._secret_key
        if self._app.environment == "production":
            raise ConfigError(
                "production needs a signing secret: set $TIDINGS_SECRET_KEY (or pass "
                "secret_key=) to a long random string"
            )
        value = self._app.store.notifications.setting(
            SECRET_SETTING, secrets.token_hex(32), self._app.clock.now()
        )
        return value.encode()

    def inbox_token(self, recipient_id: str, ttl: timedelta = INBOX_TTL) -> str:
        """A signed token granting the browser one recipient's inbox in this environment."""
        self.recipients.get(recipient_id)
        return sign_token(
            self.signing_secret(),
            environment=self._app.environment,
            subject=recipient_id,
            ttl=ttl,
            now=self._app.clock.now(),
        )

    def verify_inbox_token(self, token: str) -> str:
        """The recipient id an inbox token grants; InvalidTokenError if it is not valid."""
        return verify_token(
            self.signing_secret(),
            token,
            environment=self._app.environment,
            now=self._app.clock.now(),
        )

    async def inbox_token_async(self, recipient_id: str, ttl: timedelta = INBOX_TTL) -> str:
        return await asyncio.to_thread(self.inbox_token, recipient_id, ttl)

    async def verify_inbox_token_async(self, token: str) -> str:
        return await asyncio.to_thread(self.verify_inbox_token, token)
