"""Bodies of Trigger.dev's API as its official SDK (v3 and v4) sends and parses them.

Options tidings has no meaning for are accepted and ignored (``IGNORED_OPTIONS``, listed
in docs/guides/moving-from-trigger-dev.md); unknown fields too, so a newer SDK that sends
one more option still works. Fields tidings maps are validated.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

IGNORED_OPTIONS = (
    "idempotencyKeyTTL",
    "ttl",
    "queue",
    "maxAttempts",
    "maxDuration",
    "metadata",
    "machine",
    "region",
    "lockToVersion",
    "test",
    "debounce",
    "concurrency",
    "gates",
)


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", regex_engine="python-re")


class QueueOption(_Lenient):
    name: str = Field(max_length=255)


class TriggerOptions(_Lenient):
    """``options`` of one trigger: what tidings maps, the rest accepted and ignored."""

    payloadType: str | None = Field(default=None, max_length=100)
    idempotencyKey: str | None = Field(default=None, min_length=1, max_length=2048)
    idempotencyKeyTTL: str | None = Field(default=None, max_length=100)
    delay: str | datetime | None = Field(default=None, description="'30s', '2h', or a time.")
    ttl: str | int | None = None
    tags: str | list[str] | None = Field(default=None)
    concurrencyKey: str | None = Field(default=None, max_length=255)
    queue: QueueOption | None = None
    priority: float | None = Field(
        default=None, ge=-(2**31), le=2**31 - 1, description="Seconds of head start."
    )
    maxAttempts: int | None = None
    metadata: Any = None
    parentRunId: str | None = None

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: str | list[str] | None) -> list[str] | None:
        tags = [value] if isinstance(value, str) else value
        if tags is not None and (len(tags) > 10 or any(not 0 < len(t) <= 128 for t in tags)):
            raise ValueError("at most 10 tags, each of 1 to 128 characters")
        return tags


class TriggerDevTrigger(BaseModel):
    """``POST /api/v1/tasks/{id}/trigger`` as the SDK sends it.

    Strict at the top (unlike ``options``), so that a tidings-shaped body with a typo is
    answered 422 rather than read as this one.
    """

    model_config = ConfigDict(extra="forbid")

    payload: Any = None
    context: Any = None
    options: TriggerOptions = Field(default_factory=TriggerOptions)


class TriggerDevTriggerOut(BaseModel):
    id: str
    isCached: bool = Field(description="True when the idempotency key matched a run.")


class BatchItem(_Lenient):
    """One item of a batch (v3's ``items``; v4's NDJSON lines also carry ``index``)."""

    task: str = Field(min_length=1, max_length=255)
    payload: Any = None
    context: Any = None
    index: int | None = Field(default=None, ge=0)
    options: TriggerOptions = Field(default_factory=TriggerOptions)


class BatchV2Body(_Lenient):
    """``POST /api/v1/tasks/batch`` (SDK 3.x) and ``/api/v2/tasks/batch``."""

    items: list[BatchItem] = Field(min_length=1, max_length=1000)


class BatchRunOut(BaseModel):
    id: str
    taskIdentifier: str
    isCached: bool
    idempotencyKey: str | None = None


class BatchV2Out(BaseModel):
    id: str
    isCached: bool
    idempotencyKey: str | None = None
    runs: list[BatchRunOut]
    runCount: int


class CreateBatchBody(_Lenient):
    """Phase 1 of the SDK 4.x batch: how many items will follow."""

    runCount: int = Field(ge=1, le=1000)
    idempotencyKey: str | None = Field(default=None, max_length=2048)


class CreateBatchOut(BaseModel):
    id: str
    runCount: int
    isCached: bool
    idempotencyKey: str | None = None


class StreamBatchOut(BaseModel):
    id: str
    itemsAccepted: int
    itemsDeduplicated: int
    sealed: bool


class RescheduleBody(_Lenient):
    delay: str | datetime


class IdOut(BaseModel):
    id: str


class ScheduleBody(_Lenient):
    """``schedules.create`` / ``update``."""

    task: str = Field(min_length=1, max_length=255)
    cron: str = Field(min_length=1, max_length=255)
    deduplicationKey: str | None = Field(default=None, min_length=1, max_length=200)
    externalId: str | None = Field(default=None, max_length=255)
    timezone: str | None = Field(default=None, max_length=100)


class ScheduleGenerator(BaseModel):
    type: str = "CRON"
    expression: str
    description: str


class ScheduleEnvironment(BaseModel):
    id: str
    type: str


class ScheduleOut(BaseModel):
    id: str
    type: str = "IMPERATIVE"
    task: str
    active: bool
    deduplicationKey: str | None = None
    externalId: str | None = None
    generator: ScheduleGenerator
    timezone: str
    nextRun: datetime | None = None
    environments: list[ScheduleEnvironment]


class SchedulePagination(BaseModel):
    currentPage: int
    totalPages: int
    count: int


class ScheduleList(BaseModel):
    data: list[ScheduleOut]
    pagination: SchedulePagination
