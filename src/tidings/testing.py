"""TestEngine: run an app's tasks on a virtual clock, skipping days in microseconds."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from tidings.app import Tidings
from tidings.clock import Clock, VirtualClock
from tidings.engine.executor import execute
from tidings.engine.runtime import Runtime
from tidings.engine.scheduler import Scheduler
from tidings.flow import flow_limits
from tidings.handle import RunHandle
from tidings.kernel.pruning import PRUNE_TASK
from tidings.notify.inbox import OutboxReader
from tidings.records import EventReceipt, Run, RunStatus

_BATCH = 1000


class TestEngine:
    """Drive an app in tests: ``async with TestEngine(app, start=...) as t``.

    Inside the block the app's own calls (``app.cancel``, ``app.get_run``...) use the
    same store and the virtual clock. Nothing runs in the background: ``trigger`` runs
    what is due at once, and ``advance`` moves the clock, firing timers, cron ticks and
    retries in time order as production would.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        app: Tidings,
        *,
        start: datetime | None = None,
        outbox: bool = True,
        prune: bool = False,
    ) -> None:
        self.app = app
        self.capture = outbox
        """Send every channel to the outbox (default); False uses the app's providers."""
        self.prune = prune
        """Fire the hourly built-in ``tidings.prune`` as a worker does; off by default,
        so a test's runs and schedules are only its own."""
        self.clock = VirtualClock(start or datetime.now(UTC))
        self._saved_clock: Clock | None = None
        self._rt: Runtime | None = None
        self._scheduler: Scheduler | None = None

    async def __aenter__(self) -> TestEngine:
        kernel = self.app.kernel
        self._saved_clock = kernel.clock
        kernel.clock = self.clock
        self.app.notifications.capture_everything(self.capture)
        self._rt = Runtime(kernel)
        self._rt.loop = asyncio.get_running_loop()
        kernel.bus.add_runtime(self._rt)
        skip = frozenset() if self.prune else frozenset({PRUNE_TASK})
        self._scheduler = Scheduler(self._rt, skip=skip)
        await self._rt.db(self._scheduler.sync_static, self.clock.now())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._rt is not None
        assert self._saved_clock is not None
        self.app.kernel.bus.remove_runtime(self._rt)
        self._rt.close()
        self.app.kernel.clock = self._saved_clock
        self.app.notifications.capture_everything(False)
        if not self.app.kernel.bus.busy:
            # as a worker's last stop does: the providers' connections were made on this
            # loop, which ends with the test (they open again on the next use)
            await self.app.notifications.aclose()

    @property
    def rt(self) -> Runtime:
        if self._rt is None:
            raise RuntimeError("use TestEngine inside 'async with'")
        return self._rt

    def now(self) -> datetime:
        return self.clock.now()

    @property
    def outbox(self) -> OutboxReader:
        """Messages captured: under TestEngine every channel sends to the outbox."""
        return self.app.outbox

    async def trigger(self, task: Any, payload: Any = None, **options: Any) -> RunHandle:
        """Trigger like ``app.trigger`` and run what is due now (this run included)."""
        handle = await asyncio.to_thread(self.app.trigger, task, payload, **options)
        await self.run_due()
        return handle

    async def send_event(self, name: str, data: Any = None, **options: Any) -> EventReceipt:
        """Send like ``app.send_event`` and run what is due now (started and resumed runs)."""
        receipt = await asyncio.to_thread(self.app.send_event, name, data, **options)
        await self.run_due()
        return receipt

    async def advance(self, delta: timedelta | float) -> None:
        """Move the clock by ``delta``, running everything that falls due on the way."""
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        if step < timedelta(0):
            raise ValueError("advance needs a non-negative duration")
        target = self.clock.now() + step
        await self.run_due()
        while (due := await self._next_due()) is not None:
            if due > target:
                break
            if due > self.clock.now():
                self.clock.set(due)
            await self.run_due()
        self.clock.set(target)
        await self.run_due()

    async def run_due(self) -> int:
        """Run every attempt due at the current virtual time; return how many ran."""
        rt, ran = self.rt, 0
        while True:
            now = self.clock.now()
            if self._scheduler is not None:  # cron ticks due now become runs first
                await rt.db(self._scheduler.fire_all_due, now)
            claimed = await rt.db(
                rt.store.runs.claim,
                "test-engine",
                None,
                now,
                now + rt.lease,
                _BATCH,
                flow_limits(rt.tasks),
            )
            if not claimed:
                await rt.db(rt.lateness.flush, rt.store, "test-engine", now)
                return ran
            await asyncio.gather(*(execute(rt, c) for c in claimed))
            ran += len(claimed)

    async def _next_due(self) -> datetime | None:
        """The earliest due run or schedule tick: ``advance`` stops at each in turn."""
        due = await self.rt.db(self.rt.store.runs.next_due, None)
        if self._scheduler is not None:
            tick = await self.rt.db(self._scheduler.next_due)
            due = tick if due is None or (tick is not None and tick < due) else due
        return due

    async def get_run(self, run_id: str) -> Run:
        return await self.app.get_run_async(run_id)

    async def list_runs(
        self, task_id: str | None = None, status: RunStatus | str | None = None, limit: int = 50
    ) -> list[Run]:
        return await self.app.list_runs_async(task_id, status, limit)
