"""``ctx.notify`` and ``ctx.digest``: the notification calls of a task, as durable steps.

The engine knows nothing of notifications: the app installs :class:`NotifySteps` on the
kernel as the context extension, and a task's ``ctx.notify`` / ``ctx.digest`` land here.
Both are built on the context's public memoized-step helpers, so a resumed or retried
run never routes or collects twice.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from tidings import serde
from tidings.errors import ConfigError, ValidationError
from tidings.handle import BroadcastHandle
from tidings.kernel import TaskContext
from tidings.notify.answers import Answers
from tidings.notify.broadcast import start as start_broadcast
from tidings.notify.inbox import check_tags
from tidings.notify.service import Notifications, check_dedup_key
from tidings.options import as_timedelta
from tidings.records import NotifyResult
from tidings.records.notify import Topic

MAX_DIGEST_KEY = 200


class NotifySteps:
    """The context extension of an app's notification service (see the module doc)."""

    def __init__(self, service: Notifications) -> None:
        self.service = service
        self.answers: Answers | None = None
        """Wait tokens and questions (set by the client, which holds the signing secret)."""

    async def notify(
        self,
        ctx: TaskContext,
        type_id: str,
        *,
        to: str | Topic | Sequence[str],
        data: Any,
        channels: Sequence[str] | None,
        dedup_key: str | None,
        name: str | None,
        tags: Sequence[str] | None = None,
    ) -> NotifyResult | BroadcastHandle:
        """A memoized step of kind ``notify`` (see ``Context.notify``)."""
        service = self.service
        checked_tags = check_tags(tags)
        if not isinstance(to, str):
            return await self._broadcast(
                ctx, type_id, to, data, channels, dedup_key, name, checked_tags
            )

        async def send(full: str) -> NotifyResult:
            # Validate here, on the loop: bad input fails the run before anything is written.
            service.prepare(type_id, to, data, channels)
            key = (
                check_dedup_key(dedup_key) if dedup_key is not None else f"run:{ctx.run_id}/{full}"
            )
            route = functools.partial(
                service.send, type_id, to, data, channels, key, ctx.run_id, checked_tags
            )
            # Not on the runtime's one database thread: routing and rendering of many
            # notifications may overlap (PostgreSQL gives each its own pooled connection).
            return await asyncio.to_thread(route)

        return await ctx.memoized(
            name or str(type_id),
            "notify",
            send,
            encode=NotifyResult.to_json,
            decode=NotifyResult.from_json,
        )

    async def _broadcast(
        self,
        ctx: TaskContext,
        type_id: str,
        to: Topic | Sequence[str],
        data: Any,
        channels: Sequence[str] | None,
        dedup_key: str | None,
        name: str | None,
        tags: tuple[str, ...],
    ) -> BroadcastHandle:
        service = self.service
        kernel = service.kernel

        async def make(full: str) -> BroadcastHandle:
            key = (
                check_dedup_key(dedup_key) if dedup_key is not None else f"run:{ctx.run_id}/{full}"
            )
            return await asyncio.to_thread(
                start_broadcast, service, type_id, to, data, channels, key, tags
            )

        def decode(value: Any) -> BroadcastHandle:
            return BroadcastHandle(
                kernel, value["broadcast_id"], value["run_id"], created=bool(value["created"])
            )

        return await ctx.memoized(
            name or str(type_id), "notify", make, encode=BroadcastHandle.to_json, decode=decode
        )

    async def digest(
        self, ctx: TaskContext, key: str, item: Any, window: timedelta | float, name: str
    ) -> list[Any] | None:
        """Join the open digest of ``key`` (or open one); see ``Context.digest``."""
        if not isinstance(key, str) or not 0 < len(key) <= MAX_DIGEST_KEY:
            raise ValidationError("digest key must be a string of 1 to 200 characters")
        span = as_timedelta(window, "digest window")
        if span <= timedelta(0):
            raise ValidationError(f"digest window must be positive, got {span}")
        encoded = serde.dumps(item, f"item of digest {key!r}")
        kernel = self.service.kernel
        store = kernel.store

        def add() -> dict[str, Any]:
            now = kernel.clock.now()
            source = f"{ctx.run_id}/{name}"
            slot = store.notifications.digest_add(key, source, encoded, ctx.run_id, now + span, now)
            return {
                "digest_id": slot.digest_id,
                "holder": slot.run_id,
                "closes_at": slot.closes_at.isoformat(),
            }

        slot = await ctx.step(name, add)
        if slot["holder"] != ctx.run_id:
            return None  # another run holds this window and will receive the item
        await ctx.sleep_until(datetime.fromisoformat(slot["closes_at"]), name=f"{name} window")
        items: list[Any] = await ctx.step(
            f"{name} collect",
            lambda: store.notifications.digest_close(slot["digest_id"], kernel.clock.now()),
        )
        return items

    # -- wait tokens and questions (notify/answers.py) ---------------------------------
    def _answers(self) -> Answers:
        if self.answers is None:
            raise ConfigError(
                "wait tokens need the app's signing secret: run through a Tidings app"
            )
        return self.answers

    async def create_token(self, ctx: TaskContext, timeout: timedelta, name: str | None) -> Any:
        """A memoized step of kind ``create_token`` (see ``Context.create_token``)."""
        return await self._answers().create_token(ctx, timeout, name)

    async def ask(
        self,
        ctx: TaskContext,
        type_id: str,
        *,
        to: str,
        data: Any,
        actions: tuple[str, ...],
        timeout: timedelta,
        channels: Sequence[str] | None,
        name: str | None,
    ) -> Any:
        """Send a question and wait for its first answer (see ``Context.ask``)."""
        return await self._answers().ask(
            ctx, type_id, to=to, data=data, actions=actions, timeout=timeout,
            channels=channels, name=name,
        )  # fmt: skip
