"""What a worker or TestEngine shares with the code it runs: store, clock, thread pools."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from tidings.clock import Clock, elapsed, engine_duration
from tidings.kernel import ContextExtension, Kernel
from tidings.store.base import Store
from tidings.store.runs import ClaimedRun, LogWrite, StepRecord, WriteOp

from .lateness import Lateness
from .threads import DaemonThreadPool, call_in_loop

if TYPE_CHECKING:
    from .context import Context

T = TypeVar("T")
MAX_WRITE_BATCH = 64


@dataclass
class Attempt:
    """One attempt in progress: the task running the body, and why it was interrupted."""

    claimed: ClaimedRun
    ctx: Context
    body: asyncio.Task[Any] | None = None
    reason: str | None = None
    """Set before the body is cancelled: ``cancelled``, ``lost``, ``fenced`` or ``drain``."""
    finishing: bool = False
    held_since: float | None = None
    """:func:`~tidings.clock.elapsed` when the lease was last written (claimed or renewed)
    with this process's clock reading; None where nothing fences (TestEngine)."""


@dataclass(frozen=True)
class Fencing:
    """How a worker that cannot renew its leases stops before another can take over.

    A lease written at ``t`` (this host's steady clock, when it read the time it wrote)
    expires ``lease`` seconds later in the database's time. ``stale`` seconds after ``t``
    without a renewal the attempt starts no new step (it waits: a renewal may still get
    through); at ``t + lease - margin`` it is abandoned, its task cancelled and anything
    a step thread still returns discarded, so it is over before any other worker may
    claim the run. ``margin`` covers the error of both workers' database time and the
    moment it takes to cancel.
    """

    lease: float
    margin: float
    stale: float

    @classmethod
    def for_lease(cls, lease: timedelta, heartbeat: timedelta) -> Fencing:
        seconds = lease.total_seconds()
        margin = min(max(seconds * 0.25, 0.2), 5.0)
        stale = min(max(2 * heartbeat.total_seconds() + 0.5, 1.0), (seconds - margin) / 2)
        return cls(seconds, margin, stale)

    def fence_at(self, held_since: float) -> float:
        return held_since + self.lease - self.margin


class Runtime:
    """What a worker or TestEngine shares with the attempts it runs: the kernel's store,
    clock and tasks, the database thread with its group commit, the thread pool of sync
    steps, and the attempts in progress.

    The store is opened when the runtime is made, so a database that cannot be used
    (pending or incompatible migrations) fails the worker at once rather than in its
    claim loop's back-off. Clock and lease are read from the kernel at each use.
    """

    def __init__(self, kernel: Kernel, *, sync_threads: int = 32) -> None:
        self.kernel = kernel
        self.store: Store = kernel.store
        self.tasks = kernel.tasks
        self.attempts: dict[str, Attempt] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        # One database thread: SQLite serialises writers anyway, and the loop never
        # blocks on a lock held by another process.
        self._db = ThreadPoolExecutor(1, thread_name_prefix="tidings-db")
        self._sync = DaemonThreadPool(sync_threads, "tidings-step")
        self._writes: list[tuple[WriteOp, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.fencing: Fencing | None = None
        """Set by a worker: attempts stop when their leases could not be renewed."""
        self.lateness = Lateness()
        """Timer lateness of the claims run here, until the worker writes it."""

    @property
    def clock(self) -> Clock:
        return self.kernel.clock

    @property
    def environment(self) -> str:
        return self.kernel.environment

    @property
    def lease(self) -> timedelta:
        """The lease in engine time: a lease is real time (heartbeats are), claims and
        renewals write engine time, which a scaled clock runs faster."""
        return engine_duration(self.clock, self.kernel.lease)

    @property
    def context_extension(self) -> ContextExtension | None:
        """What ``ctx.notify`` and ``ctx.digest`` call, as the app installed it."""
        return self.kernel.context_extension

    async def db(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._db, functools.partial(fn, *args))

    async def held(self, run_id: str) -> None:
        """Return once ``run_id``'s lease was renewed recently enough to start a step.

        While renewals do not get through, a step waits here rather than start work the
        worker may no longer own; if its lease cannot be renewed in time the fence
        cancels the attempt, and this wait with it.
        """
        fencing, attempt = self.fencing, self.attempts.get(run_id)
        if fencing is None or attempt is None:
            return
        while True:  # polled: a renewal is a write of another task, not an event here
            since = attempt.held_since
            if since is None or elapsed() - since <= fencing.stale:
                return
            await asyncio.sleep(0.02)

    async def run_sync(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        result: T = await self._sync.submit(call)
        return result

    async def save_step(
        self, claimed: ClaimedRun, record: StepRecord, logs: list[LogWrite]
    ) -> None:
        await self.write(WriteOp(claimed.id, claimed.lease_token, step=record, logs=tuple(logs)))

    async def write(self, op: WriteOp) -> None:
        """Commit ``op``; raises the error it met (LeaseLostError, StoreError).

        Group commit: writes that arrive while a batch is being committed go together
        in the next one, so under load many steps share one transaction, and an idle
        worker commits a lone write at once.
        """
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._writes.append((op, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        await future

    async def _flush(self) -> None:
        try:
            while self._writes:
                batch = self._writes[:MAX_WRITE_BATCH]
                del self._writes[:MAX_WRITE_BATCH]
                try:
                    results = await self.db(self.store.runs.write_batch, [op for op, _ in batch])
                except Exception as exc:  # the whole transaction failed
                    results = [exc] * len(batch)
                for (_, future), error in zip(batch, results, strict=True):
                    if future.done():  # its awaiter was cancelled
                        continue
                    if error is None:
                        future.set_result(None)
                    else:
                        future.set_exception(error)
        finally:
            self._flusher = None

    def interrupt(self, run_id: str, reason: str) -> bool:
        """Cancel the attempt of ``run_id`` running here, if any (loop thread only)."""
        attempt = self.attempts.get(run_id)
        if attempt is None or attempt.finishing or attempt.body is None:
            return False
        attempt.reason = reason
        attempt.body.cancel()
        return True

    def interrupt_threadsafe(self, run_id: str, reason: str) -> None:
        call_in_loop(self.loop, self.interrupt, run_id, reason)

    def close(self) -> None:
        self._db.shutdown(wait=True)
        self._sync.shutdown()
