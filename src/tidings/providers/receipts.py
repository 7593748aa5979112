"""The built-in ``tidings.expo-receipts`` task: Expo push receipts, 15 minutes after tickets.

An Expo ticket only says Expo accepted a notification; its receipt says whether Apple or
Google took it, and ``DeviceNotRegistered`` there means the app was uninstalled or
notifications were revoked. Expo advises fetching receipts about 15 minutes after
sending and keeps them 24 hours, so this task runs every 5 minutes (registered only when
the app's push channel has an :class:`Expo` provider) and, for every push delivery still
``sent`` through Expo between 15 minutes and 24 hours ago, fetches the receipts of its
tickets and moves the delivery:

- every ticket has a receipt and one is ``ok``: ``delivered`` (handed to APNs/FCM);
- every ticket has a receipt and all are errors: ``failed``, with the first error;
- ``DeviceNotRegistered`` in a receipt deactivates that token either way;
- a ticket without a receipt yet: left for the next run (past 24 hours, left ``sent``).

Each outcome is appended to the delivery's ``history``. Re-running is harmless: a moved
delivery is no longer ``sent`` and is not fetched again.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from tidings.kernel import Kernel, TaskContext
from tidings.kernel.schedules import with_cron
from tidings.options import Retry
from tidings.providers.base import Provider
from tidings.providers.expo import Expo, Receipt
from tidings.records.notify import Delivery
from tidings.store.notifications import SendUpdate
from tidings.tasks import TaskDef, make_task

Providers = Callable[[str], Sequence[Provider]]
"""A channel's providers as they are used now (the outbox only, under TestEngine)."""

RECEIPTS_TASK = "tidings.expo-receipts"
RECEIPTS_CRON = "*/5 * * * *"
RECEIPT_DELAY = timedelta(minutes=15)
"""How long after sending a ticket's receipt is first asked for (Expo's advice)."""
RECEIPT_HORIZON = timedelta(hours=24)
"""How long Expo keeps receipts."""
BATCH = 1000


def receipt_tasks(
    kernel: Kernel, channels: Mapping[str, Sequence[Provider]] | None, providers: Providers
) -> list[TaskDef]:
    """The receipts task if ``channels`` sends push through Expo, else nothing."""
    if not any(isinstance(p, Expo) for p in (channels or {}).get("push", ())):
        return []

    async def tidings_expo_receipts(ctx: TaskContext) -> dict[str, int]:
        return await check_receipts(kernel, providers, ctx.now())

    task = make_task(
        tidings_expo_receipts, id=RECEIPTS_TASK, retry=Retry(max_attempts=3),
        queue="default", priority=0, timeout=None,
    )  # fmt: skip
    return [with_cron(task, RECEIPTS_CRON, "UTC", "latest")]


async def check_receipts(kernel: Kernel, providers: Providers, now: datetime) -> dict[str, int]:
    """One pass over the deliveries due for receipts; counts of what moved."""
    expo = next((p for p in providers("push") if isinstance(p, Expo)), None)
    store = kernel.store
    counts = {"checked": 0, "delivered": 0, "failed": 0, "waiting": 0, "deactivated": 0}
    if expo is None:
        return counts
    while True:
        due = await asyncio.to_thread(
            store.receipts.awaiting,
            "push", expo.name, now - RECEIPT_HORIZON, now - RECEIPT_DELAY, BATCH,
        )  # fmt: skip
        tickets = {d.id: _tickets(d) for d in due}
        ids = [ticket for pairs in tickets.values() for _, ticket in pairs]
        receipts = await expo.get_receipts(ids) if ids else {}
        waiting = 0
        for d in due:
            update = _outcome(d, tickets[d.id], receipts, now)
            counts["checked"] += 1
            if update is None:
                waiting += 1
                continue
            counts[update.status] += 1
            counts["deactivated"] += len(update.deactivate)
            await asyncio.to_thread(store.notifications.update_delivery, d.id, update, now)
        counts["waiting"] += waiting
        # Waiting deliveries come back first in the next batch: stop once a batch moves
        # nothing, so a full batch of them cannot loop forever.
        if len(due) < BATCH or waiting == len(due):
            return counts


def _tickets(d: Delivery) -> list[tuple[str, str]]:
    """``(token, ticket id)`` of every accepted send of the delivery."""
    return [
        (str(h.get("to")), str(h["message_id"]))
        for h in d.history
        if h.get("outcome") == "sent" and h.get("provider") == "expo" and h.get("message_id")
    ]


def _outcome(
    d: Delivery, tickets: list[tuple[str, str]], receipts: Mapping[str, Receipt], now: datetime
) -> SendUpdate | None:
    if not tickets or any(ticket not in receipts for _, ticket in tickets):
        return None
    got = [(token, receipts[ticket]) for token, ticket in tickets]
    errors = [r.error for _, r in got if r.error is not None]
    deactivate = [t for t, r in got if r.error is not None and _deactivates(r)]
    delivered = any(r.status == "ok" for _, r in got)
    entry: dict[str, Any] = {
        "provider": "expo",
        "outcome": "receipt",
        "at": now.isoformat(),
        "receipts": {ticket: _code(receipts[ticket]) for _, ticket in tickets},
    }  # fmt: skip
    return SendUpdate(
        status="delivered" if delivered else "failed",
        provider=d.provider,
        provider_message_id=d.provider_message_id,
        attempts=d.attempts,
        error=None if delivered else str(errors[0]) if errors else "no receipt ok",
        history=json.dumps([*d.history, entry]),
        sent_at=None,
        deactivate=deactivate,
    )


def _code(receipt: Receipt) -> str:
    return receipt.error.code or "error" if receipt.error is not None else "ok"


def _deactivates(receipt: Receipt) -> bool:
    return bool(getattr(receipt.error, "deactivate_token", False))
