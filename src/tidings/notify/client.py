"""The notification half of the client API (``app.notify``, ``app.recipients``,
``app.inbox``, inbox tokens...): one :class:`NotifyClient` the app holds beside its
kernel and delegates to."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from tidings.alerting import Alert
from tidings.errors import ConfigError
from tidings.handle import BroadcastHandle, RunHandle
from tidings.ids import new_id
from tidings.kernel import Kernel, TaskContext
from tidings.notify.alerts import AlertService
from tidings.notify.answers import Answers
from tidings.notify.broadcast import (
    BROADCAST_TASK,
    DELIVER_BATCH_TASK,
    Broadcasts,
    Topics,
    run_broadcast,
)
from tidings.notify.broadcast import start as start_broadcast
from tidings.notify.deliver import deliver, deliver_batch
from tidings.notify.inbox import UNSNOOZE_TASK, Deliveries, Inbox, OutboxReader, check_tags
from tidings.notify.preferences import Preferences, Suppressions
from tidings.notify.privacy import RecipientData, check_recipient_key
from tidings.notify.recipients import Recipients
from tidings.notify.service import (
    DELIVER_TASK,
    DELIVERY_KEY_PREFIX,
    Notifications,
    check_dedup_key,
)
from tidings.notify.steps import NotifySteps
from tidings.notify.tokens import sign_token, verify_token
from tidings.notify.urls import PREFERENCES_TTL, RecipientLinks, check_ttl
from tidings.options import Retry
from tidings.providers.base import Provider
from tidings.providers.receipts import receipt_tasks
from tidings.records import NotifyResult
from tidings.records.notify import Topic
from tidings.tasks import TaskDef, make_task

NOTIFY_TASK = "tidings.notify"
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


def internal_tasks(service: Notifications, steps: NotifySteps, inbox: Inbox) -> list[TaskDef]:
    """The built-in ``tidings.deliver``, ``tidings.notify`` and ``tidings.inbox.unsnooze``
    tasks of ``service``."""

    async def tidings_deliver(ctx: TaskContext, payload: dict[str, Any]) -> dict[str, Any]:
        return await deliver(service, ctx, payload)

    async def tidings_deliver_batch(ctx: TaskContext, payload: dict[str, Any]) -> dict[str, Any]:
        return await deliver_batch(service, ctx, payload)

    async def tidings_broadcast(ctx: TaskContext, payload: dict[str, Any]) -> dict[str, Any]:
        return await run_broadcast(service, ctx, payload)

    async def tidings_notify(ctx: TaskContext, payload: dict[str, Any]) -> dict[str, Any]:
        result = await steps.notify(
            ctx,
            payload["type"],
            to=payload["to"],
            data=payload.get("data"),
            channels=payload.get("channels"),
            dedup_key=payload["dedup_key"],
            name="notify",
            tags=payload.get("tags"),
        )
        return result.to_json()

    async def tidings_inbox_unsnooze(ctx: TaskContext, payload: dict[str, Any]) -> dict[str, Any]:
        recipient = str(payload["recipient_id"])
        returned = await ctx.step("return snoozed", lambda: inbox.return_snoozed(recipient))
        return {"recipient_id": recipient, "returned": returned}

    retry = Retry(max_attempts=5)
    return [
        make_task(tidings_deliver, id=DELIVER_TASK, retry=retry, queue="default", priority=0,
                  timeout=None),
        make_task(tidings_notify, id=NOTIFY_TASK, retry=retry, queue="default", priority=0,
                  timeout=None),
        make_task(tidings_inbox_unsnooze, id=UNSNOOZE_TASK, retry=retry, queue="default",
                  priority=0, timeout=None),
        make_task(tidings_deliver_batch, id=DELIVER_BATCH_TASK, retry=retry, queue="default",
                  priority=0, timeout=None),
        make_task(tidings_broadcast, id=BROADCAST_TASK, retry=retry, queue="default",
                  priority=0, timeout=None),
    ]  # fmt: skip


class NotifyClient:
    """Notification types, recipients, preferences, inbox, outbox and ``notify``.

    Made on a kernel: it registers the built-in notification tasks there (they run like
    any other and show in runs, but are not listed as the app's tasks), and offers
    :attr:`steps`, the context extension behind ``ctx.notify`` and ``ctx.digest``,
    for the app to install.
    """

    def __init__(
        self,
        kernel: Kernel,
        *,
        templates: str | Path | None,
        default_locale: str,
        channels: Mapping[str, Sequence[Provider]] | None,
        secret_key: str | bytes | None,
        sandbox: bool | None,
        sandbox_allow: Sequence[str],
        public_url: str | None = None,
        alerts: Sequence[Alert] | None = None,
        recipient_key: str | None = None,
    ) -> None:
        self.kernel = kernel
        key_path = check_recipient_key(recipient_key)
        self.notifications = Notifications(
            kernel, templates, default_locale, channels,
            sandbox=sandbox, sandbox_allow=sandbox_allow,
        )  # fmt: skip
        self.steps = NotifySteps(self.notifications)
        sends = (DELIVERY_KEY_PREFIX, DELIVER_BATCH_TASK)  # the runs that send deliveries
        self.recipients = Recipients(kernel, RecipientData(kernel, key_path, sends))
        self.preferences = Preferences(kernel, self.notifications.get_type)
        self.suppressions = Suppressions(kernel)
        self.inbox = Inbox(kernel)
        self.outbox = OutboxReader(kernel)
        self.deliveries = Deliveries(kernel)
        self.topics = Topics(kernel)
        self.broadcasts = Broadcasts(kernel)
        raw = secret_key
        if raw is not None and len(raw) < 16:
            raise ConfigError(
                "the signing secret (secret_key / $TIDINGS_SECRET_KEY) needs 16+ characters"
            )
        self.secret_key: bytes | None = raw.encode() if isinstance(raw, str) else raw
        """The configured signing secret (None: generated and kept in the database)."""
        self.links = RecipientLinks(kernel, self.signing_secret, public_url)
        """Preference-centre and one-click unsubscribe links (notify/urls.py)."""
        self.notifications.links = self.links
        self.answers = Answers(self.notifications, self.links)
        """Wait tokens and questions (notify/answers.py)."""
        self.steps.answers = self.answers
        builtin = [
            *internal_tasks(self.notifications, self.steps, self.inbox),
            *receipt_tasks(kernel, channels, self.notifications.providers),
        ]
        for task in builtin:
            kernel.register(task, internal=True)
        self.alerts = AlertService(kernel, self.steps, self.links)
        """The alert rules and their built-in tasks (notify/alerts.py)."""
        self.alerts.configure(alerts)

    def notify(
        self,
        type: str,
        *,
        to: str | Topic | Sequence[str],
        data: Any = None,
        channels: Sequence[str] | None = None,
        dedup_key: str | None = None,
        tags: Sequence[str] | None = None,
    ) -> NotifyHandle | BroadcastHandle:
        """``app.notify``: checked now, sent by a durable run of ``tidings.notify`` (one
        recipient) or ``tidings.broadcast`` (a topic or a list; see
        :meth:`tidings.Tidings.notify`)."""
        checked_tags = check_tags(tags)
        if not isinstance(to, str):
            key = check_dedup_key(dedup_key) if dedup_key is not None else new_id("bct")
            return start_broadcast(self.notifications, type, to, data, channels, key, checked_tags)
        _, chosen, payload = self.notifications.prepare(type, to, data, channels)
        self.recipients.get(to)
        key = check_dedup_key(dedup_key) if dedup_key is not None else new_id("ntf")
        new = self.kernel.new_run(
            NOTIFY_TASK,
            {
                "type": type,
                "to": to,
                "data": payload,
                "channels": None if channels is None else list(chosen),
                "dedup_key": key,
                **({"tags": list(checked_tags)} if checked_tags else {}),
            },
            idempotency_key=key,
        )
        run_id, created = self.kernel.create_run(new)
        return NotifyHandle(self.kernel, run_id, created=created)

    async def notify_async(self, type: str, **options: Any) -> NotifyHandle | BroadcastHandle:
        return await asyncio.to_thread(lambda: self.notify(type, **options))

    # -- inbox tokens ------------------------------------------------------------------
    def signing_secret(self) -> bytes:
        """The environment's signing secret: ``secret_key`` / ``$TIDINGS_SECRET_KEY``, or
        outside production one generated once and kept in the database (so every process
        sharing it agrees). Production without one is a ConfigError."""
        if self.secret_key is not None:
            return self.secret_key
        if self.kernel.environment == "production":
            raise ConfigError(
                "production needs a signing secret: set $TIDINGS_SECRET_KEY (or pass "
                "secret_key=) to a long random string"
            )
        value = self.kernel.store.notifications.setting(
            SECRET_SETTING, secrets.token_hex(32), self.kernel.clock.now()
        )
        return value.encode()

    def inbox_token(self, recipient_id: str, ttl: timedelta = INBOX_TTL) -> str:
        """A signed token granting the browser one recipient's inbox in this environment."""
        self.recipients.get(recipient_id)
        return sign_token(
            self.signing_secret(),
            environment=self.kernel.environment,
            subject=recipient_id,
            ttl=ttl,
            now=self.kernel.clock.now(),
        )

    def verify_inbox_token(self, token: str) -> str:
        """The recipient id an inbox token grants; InvalidTokenError if it is not valid."""
        return verify_token(
            self.signing_secret(),
            token,
            environment=self.kernel.environment,
            now=self.kernel.clock.now(),
        )

    def preferences_url(self, recipient_id: str, ttl: timedelta = PREFERENCES_TTL) -> str:
        """A signed link to the recipient's preference centre (see ``Tidings``)."""
        self.recipients.get(recipient_id)
        return self.links.preferences_url(recipient_id, check_ttl(ttl))

    async def inbox_token_async(self, recipient_id: str, ttl: timedelta = INBOX_TTL) -> str:
        return await asyncio.to_thread(self.inbox_token, recipient_id, ttl)

    async def verify_inbox_token_async(self, token: str) -> str:
        return await asyncio.to_thread(self.verify_inbox_token, token)
