"""tidings: durable workflows and multi-channel notifications in one library."""

from __future__ import annotations

from tidings.app import Tidings
from tidings.engine.context import Context
from tidings.errors import (
    ChildRunFailed,
    NonRetriableError,
    RunCancelledError,
    RunFailedError,
    TidingsError,
    UnknownTaskError,
    ValidationError,
)
from tidings.handle import RunHandle
from tidings.options import CancelOn, RateLimit, Retry
from tidings.records import (
    ErrorInfo,
    Event,
    EventReceipt,
    LogEntry,
    Run,
    RunStatus,
    Schedule,
    Step,
)

__version__ = "0.1.0"

__all__ = [
    "CancelOn",
    "ChildRunFailed",
    "Context",
    "ErrorInfo",
    "Event",
    "EventReceipt",
    "LogEntry",
    "NonRetriableError",
    "RateLimit",
    "Retry",
    "Run",
    "RunCancelledError",
    "RunFailedError",
    "RunHandle",
    "RunStatus",
    "Schedule",
    "Step",
    "Tidings",
    "TidingsError",
    "UnknownTaskError",
    "ValidationError",
    "__version__",
]
