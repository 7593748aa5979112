"""``ctx.notify`` and ``ctx.digest``: the notification calls of a task, as durable steps."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tidings import serde
from tidings.errors import ValidationError
from tidings.notify.records import NotifyResult
from tidings.notify.service import check_dedup_key
from tidings.options import as_timedelta
from tidings.store.runs import StepRecord

if TYPE_CHECKING:
    from tidings.engine.context import Context

MAX_DIGEST_KEY = 200


async def notify(
    ctx: Context,
    type_id: str,
    to: str,
    data: Any,
    channels: Sequence[str] | None,
    dedup_key: str | None,
    name: str | None,
) -> NotifyResult:
    """A memoized step of kind ``notify`` (see Context.notify)."""
    full = ctx._claim_name(name or str(type_id), "notify")
    recorded = ctx._recorded.get(full)
    if recorded is not None and recorded.status == "completed":
        return NotifyResult.from_json(serde.loads(recorded.result))
    ctx._check_live()
    app = ctx._runtime.app
    # Validate here, on the loop: bad input fails the run before anything is written.
    app.notifications.prepare(type_id, to, data, channels)
    key = check_dedup_key(dedup_key) if dedup_key is not None else f"run:{ctx.run_id}/{full}"
    started = ctx.now()
    ctx._track(full)
    try:
        send = functools.partial(
            app.notifications.send, type_id, to, data, channels, key, ctx.run_id
        )
        # Not on the runtime's one database thread: routing and rendering of many
        # notifications may overlap (PostgreSQL gives each its own pooled connection).
        result = await asyncio.to_thread(send)
        await ctx._save(
            StepRecord(
                full,
                "notify",
                "completed",
                1,
                serde.dumps(result.to_json(), f"result of notify {full!r}"),
                None,
                started,
                ctx.now(),
            )
        )
    finally:
        ctx._inflight.pop(full, None)
    return result


async def digest(
    ctx: Context, key: str, item: Any, window: timedelta | float, name: str
) -> list[Any] | None:
    """Join the open digest of ``key`` (or open one); see Context.digest."""
    if not isinstance(key, str) or not 0 < len(key) <= MAX_DIGEST_KEY:
        raise ValidationError("digest key must be a string of 1 to 200 characters")
    span = as_timedelta(window, "digest window")
    if span <= timedelta(0):
        raise ValidationError(f"digest window must be positive, got {span}")
    encoded = serde.dumps(item, f"item of digest {key!r}")
    app = ctx._runtime.app
    store = app.store

    def add() -> dict[str, Any]:
        now = app.clock.now()
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
        lambda: store.notifications.digest_close(slot["digest_id"], app.clock.now()),
    )
    return items
