"""The worker loop: claim due runs in batches, run them, keep their leases alive."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from tidings.clock import elapsed, real_seconds
from tidings.errors import ValidationError
from tidings.flow import flow_limits
from tidings.ids import new_id
from tidings.kernel import Kernel
from tidings.store.runs import ClaimedRun

from .executor import execute
from .runtime import Fencing, Runtime
from .scheduler import Scheduler
from .threads import call_in_loop

log = logging.getLogger("tidings.worker")
MAX_BACKOFF = 5.0
CHANGE_POLL = 0.025
"""How often an idle worker asks the store whether another process wrote (cheap), on a
store that cannot push wake-ups (SQLite: ``PRAGMA data_version``)."""
FENCE_CHECK = 0.05
"""How often (seconds) the worker looks for attempts whose leases are about to expire."""
LATENESS_FLUSH = 5.0
"""Seconds between writes of this worker's timer lateness to the store."""


class Worker:
    """Runs due runs of an app with at most ``concurrency`` attempts at once.

    Waiting runs are rows in the store, not objects here: the worker only holds the
    attempts it is executing right now. While it runs it is on the kernel's wake-up bus,
    so a trigger in this process makes it look at once. ``on_stopped`` is awaited when
    the last worker of the kernel stops (the app closes its providers' connections).
    """

    def __init__(
        self,
        kernel: Kernel,
        *,
        concurrency: int = 10,
        queues: Sequence[str] | None = None,
        poll_interval: float = 1.0,
        batch_size: int | None = None,
        grace: timedelta = timedelta(seconds=30),
        heartbeat: timedelta | None = None,
        on_stopped: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ValidationError(f"worker concurrency must be an int >= 1, got {concurrency!r}")
        self.kernel = kernel
        self.on_stopped = on_stopped
        self.concurrency = concurrency
        self.queues = list(queues) if queues else None
        self.poll_interval = poll_interval
        self.batch_size = batch_size or concurrency
        self.grace = grace
        self.heartbeat = heartbeat or min(kernel.lease / 3, timedelta(seconds=1))
        self.id = f"{socket.gethostname()}:{os.getpid()}:{new_id('w')[-8:]}"
        self.rt = Runtime(kernel, sync_threads=max(concurrency, 4))
        self.rt.fencing = Fencing.for_lease(kernel.lease, self.heartbeat)
        # Renewals have a thread of their own: queued behind a long group commit on the
        # database thread they would come late, and the fence would stop live attempts.
        self._lease_thread = ThreadPoolExecutor(1, thread_name_prefix="tidings-lease")
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self.attempts_done = 0
        """Attempts this worker has run to an end (any outcome)."""
        self._stop_requested = False
        self._outage = 0  # consecutive failed claims
        self._pushed = False  # the store wakes us itself (PostgreSQL LISTEN)

    # -- control -----------------------------------------------------------------------
    def wake(self) -> None:
        """Look for work now (thread-safe)."""
        if self._wake.is_set():
            # Already due to look: the loop clears the flag before it looks, so that look
            # sees whatever was committed before this call. Saves the loop a wake-up per
            # notification in a burst of triggers.
            return
        call_in_loop(self.rt.loop, self._wake.set)

    def stop(self) -> None:
        """Stop claiming; in-flight runs finish or are released within the grace period.

        A second call (a second Ctrl-C) hands in-flight runs back at once.
        """
        again = self._stop_requested
        self._stop_requested = True  # seen by run() if the loop has not started yet
        # one call: the loop may close between two
        call_in_loop(self.rt.loop, self._stop_in_loop, again)

    def _stop_in_loop(self, again: bool) -> None:
        self._stopping.set()
        self._wake.set()
        if again:
            self._release_all()

    def _release_all(self) -> None:
        for run_id in list(self.rt.attempts):
            self.rt.interrupt(run_id, "drain")

    # -- loop --------------------------------------------------------------------------
    async def run(self, *, install_signal_handlers: bool = False) -> None:
        self.rt.loop = asyncio.get_running_loop()
        if self._stop_requested:
            self._stopping.set()
        if install_signal_handlers:
            for sig in (signal.SIGTERM, signal.SIGINT):
                self.rt.loop.add_signal_handler(sig, self.stop)
        self.kernel.bus.add_worker(self)
        # app.cancel in this process interrupts an attempt here at once, not at the
        # next heartbeat that finds the lease gone
        self.kernel.bus.add_runtime(self.rt)
        unsubscribe = await self._subscribe()
        heartbeat = asyncio.create_task(self._heartbeat())
        fence = asyncio.create_task(self._fence())
        scheduler = asyncio.create_task(Scheduler(self.rt, self.wake).run(self._stopping))
        lateness = asyncio.create_task(self._report_lateness())
        log.info(
            "worker %s started (concurrency %d, queues %s)",
            self.id,
            self.concurrency,
            self.queues or "all",
        )
        try:
            await self._claim_loop()
            await self._drain()
        finally:
            heartbeat.cancel()
            fence.cancel()
            scheduler.cancel()
            lateness.cancel()
            await self._flush_lateness()
            # a renewal stuck on an unreachable server must not hold up the stop
            self._lease_thread.shutdown(wait=False, cancel_futures=True)
            if unsubscribe is not None:
                unsubscribe()
            self.kernel.bus.remove_runtime(self.rt)
            last = self.kernel.bus.remove_worker(self)
            self.rt.close()
            if last and self.on_stopped is not None:  # the app's last worker: sends are over
                await self.on_stopped()
            log.info("worker %s stopped", self.id)

    async def _subscribe(self) -> Callable[[], None] | None:
        """Have the store wake this worker when another process makes a run due."""
        try:
            unsubscribe = await self.rt.db(self.rt.store.subscribe_wakeups, self.wake)
        except Exception as exc:  # the claim loop will meet the outage and back off
            log.warning("cannot subscribe to wake-ups (%s); polling instead", exc)
            return None
        self._pushed = unsubscribe is not None
        return unsubscribe

    async def _claim_loop(self) -> None:
        rt = self.rt
        while not self._stopping.is_set():
            # Cleared before looking for work, never after: a wake-up that arrives
            # during an empty claim still triggers the next one.
            self._wake.clear()
            want = min(self.concurrency - len(self._tasks), self.batch_size)
            timeout = self.poll_interval
            marker = None
            if want > 0:
                held_since, now = elapsed(), rt.clock.now()
                try:
                    marker, claimed, due = await rt.db(self._look, now, want)
                except Exception as exc:
                    await self._store_down(exc)
                    continue
                self._outage = 0
                for run in claimed:
                    task = asyncio.create_task(execute(rt, run, held_since), name=f"run {run.id}")
                    self._tasks.add(task)
                    task.add_done_callback(self._finished)
                if len(claimed) == want:
                    continue  # there may be more due right now
                if due is not None:
                    # due times are engine time; a scaled clock reaches them sooner
                    timeout = min(timeout, real_seconds(rt.clock, due - rt.clock.now()))
            await self._idle(timeout, marker)

    async def _store_down(self, exc: Exception) -> None:
        """Log, back off (up to 5 s) and let the loop try again: never crash the worker."""
        self._outage += 1
        delay = min(0.1 * 2 ** (self._outage - 1), MAX_BACKOFF)
        if self._outage == 1 or self._outage % 10 == 0:
            log.warning("store unavailable (%s); retrying in %.1fs", exc, delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), delay)

    def _look(
        self, now: datetime, want: int
    ) -> tuple[int | None, list[ClaimedRun], datetime | None]:
        """On the database thread: change marker, then claim, then the next due time.

        A store that pushes wake-ups needs no marker: its notifications call wake().
        """
        store = self.rt.store
        marker = None if self._pushed else store.change_marker()
        flow = flow_limits(self.rt.tasks)
        claimed = store.runs.claim(self.id, self.queues, now, now + self.rt.lease, want, flow)
        due = store.runs.next_due(self.queues) if len(claimed) < want else None
        return marker, claimed, due

    async def _idle(self, timeout: float, marker: int | None) -> None:
        """Wait for a wake-up, the next due time, or (SQLite) another process's commit."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            watch = marker is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), min(left, CHANGE_POLL) if watch else left)
                return
            if watch:
                try:
                    if await self.rt.db(self.rt.store.change_marker) != marker:
                        return
                except Exception:
                    return  # let the claim loop see the failure and back off

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self.attempts_done += 1
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("attempt crashed: %r", exc)
        self._wake.set()

    async def _drain(self) -> None:
        if not self._tasks:
            return
        log.info("draining %d in-flight runs (grace %s)", len(self._tasks), self.grace)
        _, pending = await asyncio.wait(self._tasks, timeout=self.grace.total_seconds())
        if pending:
            self._release_all()
            await asyncio.wait(pending, timeout=10)

    async def _heartbeat(self) -> None:
        rt = self.rt
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.heartbeat.total_seconds())
            if not rt.attempts:
                continue
            # Judge only the attempts this renewal covered: runs claimed while it waited
            # for the database thread are not in it and must not be taken for lost.
            mine = dict(rt.attempts)
            try:
                renewed_at, (renewed, busy) = await loop.run_in_executor(
                    self._lease_thread, self._renew, list(mine)
                )
            except Exception:
                log.exception("lease renewal failed; retrying")
                continue
            for run_id, attempt in mine.items():
                if run_id in renewed:
                    attempt.held_since = renewed_at
                elif run_id in busy:
                    continue  # a write holds its row now: the next renewal gets it
                elif rt.attempts.get(run_id) is attempt:
                    # cancelled, or reclaimed by another worker after our lease expired
                    log.info(
                        "run %s is no longer ours (cancelled or reclaimed); stopping it", run_id
                    )
                    rt.interrupt(run_id, "lost")

    async def _report_lateness(self) -> None:
        while True:
            await asyncio.sleep(LATENESS_FLUSH)
            await self._flush_lateness()

    async def _flush_lateness(self) -> None:
        try:
            await self.rt.db(self.rt.lateness.flush, self.rt.store, self.id, self.rt.clock.now())
        except Exception as exc:  # kept for the next flush; the store may be down
            log.warning("could not record timer lateness (%s); will retry", exc)

    def _renew(self, run_ids: list[str]) -> tuple[float, tuple[set[str], set[str]]]:
        """On the lease thread: extend the leases from now; when now was read, and the
        runs still held. The time is read here, not when the renewal was queued, so the
        fence counts from the moment the new expiry was computed."""
        renewed_at, now = elapsed(), self.rt.clock.now()
        return renewed_at, self.rt.store.runs.renew_leases(self.id, run_ids, now + self.rt.lease)

    async def _fence(self) -> None:
        """Abandon attempts whose leases could not be renewed, before they expire.

        Without a renewal the database lets another worker claim the run once its lease
        runs out (in the database's time): by then this worker must have stopped, so it
        cancels the attempt ``margin`` seconds before (see :class:`Fencing`). Nothing is
        written for it: the run is taken over, or resumed here, from its last commit.
        """
        rt, fencing = self.rt, self.rt.fencing
        assert fencing is not None
        while True:
            await asyncio.sleep(FENCE_CHECK)
            now = elapsed()
            for run_id, attempt in list(rt.attempts.items()):
                if attempt.held_since is None or attempt.reason is not None:
                    continue
                if now >= fencing.fence_at(attempt.held_since) and rt.interrupt(run_id, "fenced"):
                    log.warning(
                        "run %s: lease not renewed for %.1fs (database unreachable?); "
                        "abandoning this attempt before the lease (%gs) expires",
                        run_id,
                        now - attempt.held_since,
                        fencing.lease,
                    )
