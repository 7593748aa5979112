"""Read-only records: what the client API and the store return.

Runs, steps, events and schedules are in :mod:`tidings.records.runs` (re-exported here);
notification records in :mod:`tidings.records.notify`.
"""

from tidings.records.runs import (
    ACTIVE_STATUSES,
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
    "ErrorInfo",
    "Event",
    "EventReceipt",
    "LogEntry",
    "Run",
    "RunStatus",
    "Schedule",
    "Step",
]
