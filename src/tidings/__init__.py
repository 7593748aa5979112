"""tidings: durable workflows and multi-channel notifications in one library."""

from __future__ import annotations

from tidings.alerting import Alert, Webhook
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
    UnknownTokenError,
    ValidationError,
)
from tidings.handle import BroadcastHandle, RunHandle
from tidings.notify.client import NotifyHandle
from tidings.options import Batch, CancelOn, Debounce, RateLimit, Retry, Singleton, TriggerRequest
from tidings.records import (
    BulkAction,
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
from tidings.records.answers import Answer, TokenResult, WaitToken
from tidings.records.notify import (
    Broadcast,
    Delivery,
    Erasure,
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
    "Alert",
    "Answer",
    "Batch",
    "Broadcast",
    "BroadcastHandle",
    "BulkAction",
    "CancelOn",
    "ChildRunFailed",
    "Context",
    "Debounce",
    "Delivery",
    "Erasure",
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
    "TokenResult",
    "Topic",
    "TopicPage",
    "TriggerRequest",
    "UnknownBroadcastError",
    "UnknownNotificationTypeError",
    "UnknownRecipientError",
    "UnknownTaskError",
    "UnknownTokenError",
    "ValidationError",
    "WaitToken",
    "Webhook",
    "__version__",
]
