"""Retention applied: what each period removes, in bounded batches, and the built-in
``tidings.prune`` task that does it every hour.

Each kind is deleted oldest first, ``Retention.batch`` rows per transaction (with what
belongs to them: a run's steps, logs, waits, cancel keys, sources and gate), so no
transaction holds locks for long and workers keep claiming between batches. Nothing an
active run needs is touched: an active run is never deleted, nor a finished run whose
parent or child is still active, nor a notification or inbox item of an active run, nor
a delivery still to be sent. Periods are never shorter than the idempotency window
(an idempotency key, event id or dedup key must not outlive what it points at), and
events received since the longest-running attempt began are kept (a wait it is about
to register looks back at them).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from tidings.ids import new_id
from tidings.options import Retry
from tidings.records.pruning import PruneReport
from tidings.retention import Retention
from tidings.store.pruning import KINDS, Cursor
from tidings.tasks import TaskDef, make_task

from .extension import TaskContext
from .kernel import Kernel
from .schedules import with_cron

PRUNE_TASK = "tidings.prune"
PRUNE_CRON = "17 * * * *"
"""Hourly, at a minute few other jobs pick."""
PASS_BUDGET = timedelta(minutes=15)
"""How long one scheduled pass may delete for; what is left waits for the next pass."""
PERIOD_OF = {
    "runs": "runs",
    "digests": "runs",
    "broadcasts": "runs",
    "prunes": "runs",
    "events": "events",
    "webhook_events": "events",
    "deliveries": "deliveries",
    "outbox": "outbox",
    "inbox": "inbox",
    "inbox_changes": "inbox",
}
"""Which period of :class:`Retention` each kind is kept for (keys: until they expire)."""
_KEYS = ("idempotency_keys", "dedup_keys")
_AT_LEAST_WINDOW = ("runs", "events", "deliveries")
"""Periods never shorter than the idempotency window: keys and event ids point at them."""


def cutoffs(
    retention: Retention,
    now: datetime,
    idempotency_ttl: timedelta,
    running_since: datetime | None = None,
) -> dict[str, datetime]:
    """``{kind: cutoff}``: rows of the kind older than its cutoff go (keys: expired
    before it). Kinds whose period is None are left out, so they are kept."""
    periods = retention.periods()
    found: dict[str, datetime] = {}
    for kind in KINDS:
        if kind in _KEYS:
            if retention.enabled:
                found[kind] = now
            continue
        period = periods[PERIOD_OF[kind]]
        if period is None:
            continue
        if PERIOD_OF[kind] in _AT_LEAST_WINDOW:
            period = max(period, idempotency_ttl)
        cutoff = now - period
        if PERIOD_OF[kind] == "events" and running_since is not None:
            cutoff = min(cutoff, running_since)
        found[kind] = cutoff
    return found


def prune(
    kernel: Kernel,
    *,
    dry_run: bool = False,
    budget: timedelta | None = None,
    retention: Retention | None = None,
    on_batch: Callable[[str, int], None] | None = None,
) -> PruneReport:
    """One pass over every kind retention applies to (blocking; call it off the event
    loop). ``dry_run`` counts what would go and deletes nothing; ``budget`` stops
    deleting after that much wall time (the report says ``complete=False``).
    ``on_batch(kind, deleted)`` is called after each transaction (progress)."""
    policy = retention or kernel.retention
    store = kernel.store
    started = kernel.clock.now()
    clock_start = time.monotonic()
    cut = cutoffs(policy, started, kernel.idempotency_ttl, store.pruning.running_since())
    counts: dict[str, int] = {}
    batches = rows = max_rows = 0
    complete = True
    for kind, cutoff in cut.items():
        if dry_run:
            counts[kind] = store.pruning.count(kind, cutoff)
            continue
        cursor: Cursor | None = None
        counts[kind] = 0
        while True:
            done = store.pruning.batch(kind, cutoff, policy.batch, cursor)
            counts[kind] += done.deleted
            if done.rows:
                batches += 1
                rows += done.rows
                max_rows = max(max_rows, done.rows)
            if on_batch is not None:
                on_batch(kind, done.deleted)
            cursor = done.cursor
            if cursor is None:
                break
            if budget is not None and time.monotonic() - clock_start > budget.total_seconds():
                complete = False
                break
        if not complete:
            break
    report = PruneReport(
        id=None if dry_run else new_id("prn"),
        started_at=started,
        finished_at=started + timedelta(seconds=time.monotonic() - clock_start),
        dry_run=dry_run,
        counts=counts,
        batches=batches,
        rows=rows,
        max_batch_rows=max_rows,
        complete=complete,
    )
    if not dry_run:
        store.pruning.record(report)
    return report


def prune_task(kernel: Kernel) -> TaskDef:
    """The built-in ``tidings.prune``: hourly, one pass of at most :data:`PASS_BUDGET`."""

    async def tidings_prune(ctx: TaskContext) -> dict[str, Any]:
        def one_pass() -> dict[str, Any]:
            if not kernel.retention.enabled:
                return {"skipped": "retention is off"}
            return prune(kernel, budget=PASS_BUDGET).to_json()

        result: dict[str, Any] = await ctx.step("prune", one_pass)
        return result

    task = make_task(
        tidings_prune, id=PRUNE_TASK, retry=Retry(max_attempts=3),
        queue="default", priority=0, timeout=None,
    )  # fmt: skip
    return with_cron(task, PRUNE_CRON, "UTC", "latest")
