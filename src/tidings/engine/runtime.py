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

from tidings.clock import Clock, engine_duration
from tidings.kernel import ContextExtension, Kernel
from tidings.store.base import Store
from tidings.store.runs import ClaimedRun, LogWrite, StepRecord, WriteOp

from .threads import DaemonThreadPool

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
    """Set before the body is cancelled: ``cancelled``, ``lost`` or ``drain``."""
    finishing: bool = False


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
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.interrupt, run_id, reason)

    def close(self) -> None:
        self._db.shutdown(wait=True)
        self._sync.shutdown()
