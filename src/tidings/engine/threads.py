"""A pool of daemon threads for sync step functions.

ThreadPoolExecutor joins its threads at interpreter exit, so one step stuck in a
blocking call would keep a stopped worker process alive forever. These threads are
daemons: a worker that has handed its runs back can exit whatever they are doing.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any

_Job = tuple[Callable[[], Any], asyncio.AbstractEventLoop, "asyncio.Future[Any]"] | None


class DaemonThreadPool:
    def __init__(self, size: int, name: str) -> None:
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._serve, name=f"{name}-{i}", daemon=True)
            for i in range(size)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable[[], Any]) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._jobs.put((fn, loop, future))
        return future

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, loop, future = job
            if future.cancelled():
                continue
            try:
                result = fn()
            except BaseException as exc:  # handed to the awaiting coroutine
                _resolve(loop, future, None, exc)
            else:
                _resolve(loop, future, result, None)

    def shutdown(self) -> None:
        for _ in self._threads:
            self._jobs.put(None)


def _resolve(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[Any],
    result: Any,
    exc: BaseException | None,
) -> None:
    def settle() -> None:
        if future.cancelled():
            return
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)

    call_in_loop(loop, settle)  # a closed loop: nobody is waiting any more


def call_in_loop(
    loop: asyncio.AbstractEventLoop | None, callback: Callable[..., object], *args: Any
) -> None:
    """Schedule ``callback`` on ``loop`` from any thread; nothing if the loop is gone.

    Checking ``loop.is_closed()`` first cannot do it: a loop whose coroutine ends (a
    worker stopping with nothing in flight ends in microseconds) closes between the
    check and the call, so the closed loop's refusal is caught instead. One call, not
    several in a row, for the same reason.
    """
    if loop is None:
        return
    try:
        loop.call_soon_threadsafe(callback, *args)
    except RuntimeError:
        if not loop.is_closed():
            raise
