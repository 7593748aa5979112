"""The wake-up bus: how work made in one place reaches the workers of this process.

A trigger, an event or a notification commits rows that make runs due; the workers of
the same process should look at once rather than at their next poll. A cancelled run
must be interrupted wherever its attempt is running here. Both go through the bus: the
engine registers its workers (to be woken) and runtimes (to be interrupted); whatever
creates work calls :meth:`WakeBus.wake` or :meth:`WakeBus.interrupt`. Other processes
learn of the same work through the store (PostgreSQL ``LISTEN``, SQLite's change marker).
"""

from __future__ import annotations

import threading
from typing import Protocol


class Wakeable(Protocol):
    """A worker: looks for due runs when woken (thread-safe, cheap when already due)."""

    def wake(self) -> None: ...


class Interruptible(Protocol):
    """A runtime: stops the attempt of a run it is executing, if any (thread-safe)."""

    def interrupt_threadsafe(self, run_id: str, reason: str) -> None: ...


class WakeBus:
    """The workers and runtimes of one app in this process (safe from any thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._workers: list[Wakeable] = []
        self._runtimes: list[Interruptible] = []

    def add_worker(self, worker: Wakeable) -> None:
        with self._lock:
            if worker not in self._workers:
                self._workers.append(worker)

    def remove_worker(self, worker: Wakeable) -> bool:
        """Forget ``worker``; True when it was the last one registered."""
        with self._lock:
            if worker in self._workers:
                self._workers.remove(worker)
            return not self._workers

    def add_runtime(self, runtime: Interruptible) -> None:
        with self._lock:
            if runtime not in self._runtimes:
                self._runtimes.append(runtime)

    def remove_runtime(self, runtime: Interruptible) -> None:
        with self._lock:
            if runtime in self._runtimes:
                self._runtimes.remove(runtime)

    @property
    def busy(self) -> bool:
        """Whether any worker or runtime is registered (settings must not change then)."""
        with self._lock:
            return bool(self._workers or self._runtimes)

    def wake(self) -> None:
        """Have every worker look for due runs now."""
        with self._lock:
            workers = list(self._workers)
        for worker in workers:
            worker.wake()

    def interrupt(self, run_id: str, reason: str) -> None:
        """Interrupt the attempt of ``run_id`` in whichever runtime is executing it."""
        with self._lock:
            runtimes = list(self._runtimes)
        for runtime in runtimes:
            runtime.interrupt_threadsafe(run_id, reason)
