"""Read-only records: what the client API and the store return.

Runs, steps, events and schedules are in :mod:`tidings.records.runs` (re-exported here);
notification records in :mod:`tidings.records.notify` (what ``notify`` returns re-exported
here).
"""

from tidings.records.notify import DeliveryRef, NotifyResult
from tidings.records.runs import (
    ACTIVE_STATUSES,
    BulkAction,
    ErrorInfo,
    Event,
    EventReceipt,
    LogEntry,
    Run,
    RunStatus,
    Schedule,
    Step,
)

__all__ = [
    "ACTIVE_STATUSES",
    "BulkAction",
    "DeliveryRef",
    "ErrorInfo",
    "Event",
    "EventReceipt",
    "LogEntry",
    "NotifyResult",
    "Run",
    "RunStatus",
    "Schedule",
    "Step",
]
