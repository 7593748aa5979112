"""Events accepted now and delivered later (``send_event(..., deliver_at=...)``).

Such an event is a row with a delivery time, like a waiting run; the scheduler every
worker runs delivers the due ones. Each is delivered once however many schedulers
run: the transaction that records the event deletes the row, and the one that finds
it already gone does nothing. Subscribers are worked out at delivery time, from the
tasks the delivering worker knows.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from tidings.errors import ValidationError
from tidings.serde import loads

if TYPE_CHECKING:
    from tidings.kernel import Kernel
    from tidings.store.base import Store

log = logging.getLogger("tidings.events")

BATCH = 100
"""Events delivered per pass."""


def deliver_due_events(kernel: Kernel, store: Store, now: datetime) -> tuple[int, bool]:
    """Deliver the events due at ``now``: (runs started or resumed, whether more are due)."""
    due = store.events.due_scheduled(now, BATCH)
    woke = 0
    for event, _deliver_at in due:
        try:
            built, runs, cancels = kernel.build_event(
                event.name, loads(event.data), event.id, event.ts
            )
        except ValidationError as exc:  # a subscriber's payload model changed meanwhile
            log.error("event %s (%s) dropped at delivery: %s", event.id, event.name, exc)
            store.events.drop_scheduled(event.id)
            continue
        sent = store.events.deliver_scheduled(built, runs, cancels, now, kernel.idempotency_ttl)
        if sent is None:
            continue
        for run_id in sent.cancelled:
            kernel.interrupt(run_id, "cancelled")
        woke += len(sent.run_ids) + len(sent.resumed)
    return woke, len(due) == BATCH
