"""RunHandle: what ``trigger`` returns."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

from tidings.errors import RunCancelledError, RunFailedError, UnknownRunError
from tidings.kernel import Kernel
from tidings.records import Run, RunStatus


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
