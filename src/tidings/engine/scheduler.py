"""The scheduler: turns due cron ticks into runs, once per tick however many run.

Every worker runs one (and TestEngine drives one on its virtual clock). Schedules are
rows with a ``next_run_at``; a scheduler claims the ticks it fires by moving that time
forward with a compare-and-set in the same transaction that creates their runs, so two
schedulers never both fire a tick, and a crash between the two cannot lose one. Each run
also carries the idempotency key ``schedule-<schedule id>-<tick>`` as a second guard.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, cast

from tidings.clock import engine_duration, real_seconds
from tidings.cron import CatchUp, CronSpec
from tidings.errors import ValidationError
from tidings.kernel.schedules import scheduled_payload, static_schedule
from tidings.records import Schedule
from tidings.store.runs import NewRun

from .delayed import deliver_due_events

if TYPE_CHECKING:
    from .runtime import Runtime

log = logging.getLogger("tidings.scheduler")

MAX_SLEEP = 1.0
"""Longest sleep between looks (seconds): picks up schedules made by other processes."""
BATCH = 100
"""Schedules fired per store round trip."""
MAX_TICKS = 100
"""Ticks of one schedule fired per transaction (``catch_up="all"`` after long downtime)."""
MISSED_AFTER = timedelta(minutes=1)
"""A tick later than this is "missed": ``catch_up="none"`` skips it."""
MAX_PASSES = 1_000


def plan_ticks(
    spec: CronSpec, due: datetime, now: datetime, missed_after: timedelta = MISSED_AFTER
) -> tuple[list[datetime], datetime]:
    """The ticks to fire now, from ``due`` (the first unfired tick), and the next one after.

    ``all``: every tick up to now (at most MAX_TICKS at once, the rest on the next pass);
    ``latest``: the last tick up to now; ``none``: that tick too unless it was missed
    (later than ``missed_after``), so a scheduler that is merely a moment late still fires.
    """
    if spec.catch_up == "all":
        ticks: list[datetime] = []
        tick = due
        while tick <= now and len(ticks) < MAX_TICKS:
            ticks.append(tick)
            tick = spec.next_after(tick)
        return ticks, tick
    latest = latest_tick(spec, due, now)
    following = spec.next_after(latest)
    if spec.catch_up == "none" and now - latest > missed_after:
        return [], following
    return [latest], following


def latest_tick(spec: CronSpec, first: datetime, now: datetime) -> datetime:
    """The last tick at or before ``now``, given ``first`` (a tick at or before ``now``).

    Walks forward from ``first`` when it is recent; after long downtime it searches
    back from ``now`` in growing windows instead of walking every missed tick.
    """
    window = timedelta(days=1)
    while True:
        start = now - window
        tick = first if start <= first else spec.next_after(start)
        if tick <= now:
            while (following := spec.next_after(tick)) <= now:
                tick = following
            return tick
        window *= 8


class Scheduler:
    """Fires the due schedules of the app's tasks (sync methods run on the db thread)."""

    def __init__(
        self,
        rt: Runtime,
        on_fired: Callable[[], None] | None = None,
        skip: frozenset[str] = frozenset(),
    ) -> None:
        self.kernel = rt.kernel
        self.rt = rt
        self.on_fired = on_fired
        self.skip = skip
        """Tasks whose schedules this scheduler leaves alone (TestEngine: the built-in
        ``tidings.prune``, unless asked for)."""
        self._synced = False

    @property
    def task_ids(self) -> list[str]:
        return [t for t in self.rt.tasks if t not in self.skip]

    def sync_static(self, now: datetime) -> None:
        """Upsert every task's ``cron=`` schedule; delete those the code no longer has."""
        keep: list[str] = []
        for task in list(self.rt.tasks.values()):
            spec = task.schedule
            if spec is None or task.id in self.skip:
                continue
            keep.append(task.id)
            self.rt.store.schedules.save(static_schedule(task.id, spec, spec.next_after(now)), now)
        self.rt.store.schedules.prune_static(keep)
        self._synced = True

    def next_due(self) -> datetime | None:
        """The earliest schedule tick or delayed event delivery."""
        tick = self.rt.store.schedules.next_due(self.task_ids)
        event = self.rt.store.events.next_scheduled()
        return min((t for t in (tick, event) if t is not None), default=None)

    def fire_due(self, now: datetime) -> tuple[int, bool]:
        """One pass over due schedules and delayed events: (runs created or resumed,
        whether more may be due)."""
        if not self._synced:
            self.sync_static(now)
        due = self.rt.store.schedules.due(now, self.task_ids, BATCH)
        created = sum(self._fire(schedule, now) for schedule in due)
        woke, more_events = deliver_due_events(self.kernel, self.rt.store, now)
        return created + woke, len(due) == BATCH or created >= MAX_TICKS or more_events

    def fire_all_due(self, now: datetime) -> int:
        """Fire until nothing is due at ``now`` (TestEngine)."""
        total = 0
        for _ in range(MAX_PASSES):
            created, more = self.fire_due(now)
            total += created
            if not more and not self.rt.store.schedules.due(now, self.task_ids, 1):
                break
        return total

    def _fire(self, schedule: Schedule, now: datetime) -> int:
        spec = CronSpec(schedule.cron, schedule.timezone, cast(CatchUp, schedule.catch_up))
        try:
            # "a moment late" is real lateness: on a scaled clock it spans more engine time
            missed_after = engine_duration(self.rt.clock, MISSED_AFTER)
            ticks, following = plan_ticks(spec, schedule.next_run_at, now, missed_after)
        except Exception:  # a stored cron this version cannot read: do not spin on it
            log.exception(
                "schedule %s: cannot compute its next tick; retrying in a day", schedule.id
            )
            ticks, following = [], now + timedelta(days=1)
        runs: list[NewRun] = []
        last = schedule.last_run_at
        for tick in ticks:
            run = self._new_run(schedule, tick, last)
            if run is not None:
                runs.append(run)
            last = tick
        store = self.rt.store
        created = store.schedules.fire(
            schedule, following, last, runs, now, self.kernel.idempotency_ttl
        )
        if created:
            log.info(
                "schedule %s fired %d run(s) of %s", schedule.id, len(created), schedule.task_id
            )
        return len(created or ())

    def _new_run(self, schedule: Schedule, tick: datetime, last: datetime | None) -> NewRun | None:
        task = self.rt.tasks[schedule.task_id]
        payload = scheduled_payload(schedule, tick, last) if task.takes_payload else None
        try:
            return self.kernel.new_run(
                task.id,
                payload,
                idempotency_key=f"schedule-{schedule.id}-{tick.isoformat()}",
                run_at=tick,
            )
        except ValidationError as exc:  # the task's payload model changed since creation
            log.error("schedule %s: tick %s skipped: %s", schedule.id, tick.isoformat(), exc)
            return None

    # -- loop (workers) ----------------------------------------------------------------
    async def run(self, stopping: asyncio.Event) -> None:
        """Fire due ticks until ``stopping`` is set, sleeping until the next (at most 1 s)."""
        failures = 0
        while not stopping.is_set():
            try:
                created, more, due = await self.rt.db(self._pass, self.rt.clock.now())
                failures = 0
            except Exception as exc:
                failures += 1
                if failures == 1 or failures % 10 == 0:
                    log.warning("scheduler: store unavailable (%s); retrying", exc)
                created, more, due = 0, False, None
            if created and self.on_fired is not None:
                self.on_fired()
            timeout = MAX_SLEEP * min(failures + 1, 5)
            if more:
                timeout = 0.0
            elif due is not None and failures == 0:
                timeout = min(real_seconds(self.rt.clock, due - self.rt.clock.now()), MAX_SLEEP)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout)

    def _pass(self, now: datetime) -> tuple[int, bool, datetime | None]:
        created, more = self.fire_due(now)
        return created, more, None if more else self.next_due()
