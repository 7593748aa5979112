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
    UnknownBroadcastError,
    UnknownNotificationTypeError,
    UnknownRecipientError,
    UnknownTaskError,
    ValidationError,
)
from tidings.handle import BroadcastHandle, RunHandle
from tidings.notify.client import NotifyHandle
from tidings.options import Batch, CancelOn, Debounce, RateLimit, Retry, Singleton, TriggerRequest
from tidings.records import (
    ErrorInfo,
    Event,
    EventReceipt,
    LogEntry,
    NotifyResult,
    Run,
    RunStatus,
    Schedule,
    Step,
)
from tidings.records.notify import (
    Broadcast,
    Delivery,
    InboxItem,
    OutboxEntry,
    Recipient,
    Topic,
    TopicPage,
)
from tidings.records.pruning import PruneReport
from tidings.retention import Retention

__version__ = "0.1.0"

__all__ = [
    "Batch",
    "Broadcast",
    "BroadcastHandle",
    "CancelOn",
    "ChildRunFailed",
    "Context",
    "Debounce",
    "Delivery",
    "ErrorInfo",
    "Event",
    "EventReceipt",
    "InboxItem",
    "LogEntry",
    "NonRetriableError",
    "NotifyHandle",
    "NotifyResult",
    "OutboxEntry",
    "PruneReport",
    "RateLimit",
    "Recipient",
    "Retention",
    "Retry",
    "Run",
    "RunCancelledError",
    "RunFailedError",
    "RunHandle",
    "RunStatus",
    "Schedule",
    "Singleton",
    "Step",
    "Tidings",
    "TidingsError",
    "Topic",
    "TopicPage",
    "TriggerRequest",
    "UnknownBroadcastError",
    "UnknownNotificationTypeError",
    "UnknownRecipientError",
    "UnknownTaskError",
    "ValidationError",
    "__version__",
]
