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
from tidings.options import Retry
from tidings.records import ErrorInfo, LogEntry, Run, RunStatus, Step

__version__ = "0.1.0"

__all__ = [
    "ChildRunFailed",
    "Context",
    "ErrorInfo",
    "LogEntry",
    "NonRetriableError",
    "Retry",
    "Run",
    "RunCancelledError",
    "RunFailedError",
    "RunHandle",
    "RunStatus",
    "Step",
    "Tidings",
    "TidingsError",
    "UnknownTaskError",
    "ValidationError",
    "__version__",
]
