"""RunHandle: what ``trigger`` returns."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

from tidings.errors import (
    RunCancelledError,
    RunFailedError,
    UnknownBroadcastError,
    UnknownRunError,
)
from tidings.kernel import Kernel
from tidings.records import Run, RunStatus
from tidings.records.notify import Broadcast
from tidings.store.broadcasts import BroadcastRow


class RunHandle:
    """A reference to a run; ``created`` is False when an idempotency key matched.

    It reads the run through the kernel of the app that made it.
    """

    def __init__(self, kernel: Kernel, run_id: str, *, created: bool = True) -> None:
        self._kernel = kernel
        self.id = run_id
        self.created = created

    def __repr__(self) -> str:
        return f"RunHandle({self.id!r})"

    def get(self) -> Run:
        return self._kernel.get_run(self.id)

    async def get_async(self) -> Run:
        return await asyncio.to_thread(self._kernel.get_run, self.id)

    def result(self, timeout: timedelta | float | None = None) -> Any:
        """Block until the run finishes; return its result or raise why it did not."""
        deadline = _deadline(timeout)
        delay = 0.005
        while True:
            run = self._kernel.store.runs.get(self.id, steps=False)
            if (value := _settled(self.id, run)) is not _PENDING:
                return value
            delay = _wait_step(deadline, delay, self.id)
            time.sleep(delay)

    async def result_async(self, timeout: timedelta | float | None = None) -> Any:
        deadline = _deadline(timeout)
        delay = 0.005
        while True:
            run = await asyncio.to_thread(self._kernel.store.runs.get, self.id, steps=False)
            if (value := _settled(self.id, run)) is not _PENDING:
                return value
            delay = _wait_step(deadline, delay, self.id)
            await asyncio.sleep(delay)


_PENDING = object()


def broadcast_record(kernel: Kernel, row: BroadcastRow) -> Broadcast:
    return Broadcast(
        id=row.id,
        type=row.type_id,
        topic=row.topic,
        dedup_key=row.dedup_key,
        run_id=row.run_id,
        total=row.total,
        routed=row.routed,
        counts=kernel.store.broadcasts.counts(row.id),
        created_at=row.created_at,
        finished_at=row.finished_at,
    )


class BroadcastHandle:
    """What ``app.notify`` / ``ctx.notify`` return for a topic or a list: the broadcast
    (``id``) and the run routing it (``run_id``). ``created`` is False when the dedup
    key named an earlier broadcast (nothing new was sent)."""

    def __init__(self, kernel: Kernel, broadcast_id: str, run_id: str, *, created: bool) -> None:
        self._kernel = kernel
        self.id = broadcast_id
        self.run_id = run_id
        self.created = created

    def __repr__(self) -> str:
        return f"BroadcastHandle(id={self.id!r}, run_id={self.run_id!r})"

    def get(self) -> Broadcast:
        """Its progress now (see ``app.broadcasts.get``)."""
        row = self._kernel.store.broadcasts.get(self.id)
        if row is None:
            raise UnknownBroadcastError(f"no broadcast with id {self.id!r}")
        return broadcast_record(self._kernel, row)

    def wait(self, timeout: timedelta | float | None = None) -> Broadcast:
        """Wait until every page is routed (external sends go on in their own runs)."""
        RunHandle(self._kernel, self.run_id).result(timeout)
        return self.get()

    async def get_async(self) -> Broadcast:
        return await asyncio.to_thread(self.get)

    async def wait_async(self, timeout: timedelta | float | None = None) -> Broadcast:
        await RunHandle(self._kernel, self.run_id).result_async(timeout)
        return await self.get_async()

    def to_json(self) -> dict[str, Any]:
        return {"broadcast_id": self.id, "run_id": self.run_id, "created": self.created}


def _deadline(timeout: timedelta | float | None) -> float | None:
    if timeout is None:
        return None
    seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)
    return time.monotonic() + seconds


def _settled(run_id: str, run: Run | None) -> Any:
    if run is None:
        raise UnknownRunError(f"no run with id {run_id!r}")
    if run.status is RunStatus.COMPLETED:
        return run.result
    if run.status is RunStatus.FAILED:
        raise RunFailedError(run_id, run.error)
    if run.status is RunStatus.CANCELLED:
        raise RunCancelledError(run_id)
    return _PENDING


def _wait_step(deadline: float | None, delay: float, run_id: str) -> float:
    if deadline is not None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"run {run_id} did not finish in time")
        return min(delay * 1.5, 0.25, left)
    return min(delay * 1.5, 0.25)
