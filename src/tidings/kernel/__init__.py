"""The kernel below the app: task registry, run and event making, store, clock, and
the wake-up bus the engine and the notification service share (see :class:`Kernel`)."""

from __future__ import annotations

from tidings.kernel.bus import Interruptible, Wakeable, WakeBus
from tidings.kernel.extension import ContextExtension, TaskContext
from tidings.kernel.kernel import Kernel, resolve_run_at

__all__ = [
    "ContextExtension",
    "Interruptible",
    "Kernel",
    "TaskContext",
    "WakeBus",
    "Wakeable",
    "resolve_run_at",
]
