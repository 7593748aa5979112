"""Request and response bodies of the HTTP API (pydantic: validated in, documented out)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from tidings.limits import check_timestamp, readable
from tidings.records import BulkAction, ErrorInfo, Run, RunStatus, Step

_NAME = Field(
    min_length=1,
    max_length=200,
    # not blank, and not in tidings' own "tidings/" namespace
    pattern=r"^(?!tidings/)[\s\S]*\S[\s\S]*$",
    description="Event name, e.g. user.registered (not blank, not starting with tidings/).",
)
_ID = Field(default=None, min_length=1, max_length=255, description="Sent twice: accepted once.")


def aware(value: datetime | None) -> datetime | None:
    """Times without an offset are read as UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def in_range(value: datetime | None) -> datetime | None:
    """A pydantic validator: ``aware(value)`` within years 1970-9999 in UTC, or a 422
    naming the field."""
    value = aware(value)
    if value is not None:
        try:
            check_timestamp(value, "time")
        except ValueError as exc:
            raise ValueError(str(exc).removeprefix("time ")) from None
    return value


InRange = Annotated[datetime | None, AfterValidator(in_range)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", regex_engine="python-re")


# -- events ------------------------------------------------------------------------------
class TriggerDevEvent(_Strict):
    name: str = _NAME
    payload: Any = None
    id: str | None = _ID
    timestamp: InRange = None
    context: Any = None


class TriggerDevOptions(_Strict):
    deliverAt: InRange = Field(default=None, description="Deliver at this time.")
    deliverAfter: float | None = Field(
        default=None, ge=0, le=366 * 86400, description="Deliver after this many seconds."
    )


class TriggerDevBody(_Strict):
    """Trigger.dev's v1 ``sendEvent`` body."""

    event: TriggerDevEvent
    options: TriggerDevOptions | None = None


class NamePayloadBody(_Strict):
    """The bare body hand-written publishers post."""

    name: str = _NAME
    payload: Any
    id: str | None = _ID
    timestamp: InRange = None


class NameDataBody(_Strict):
    name: str = _NAME
    data: Any = None
    id: str | None = _ID
    ts: InRange = None


EventBody = TriggerDevBody | NamePayloadBody | NameDataBody


class EventOut(BaseModel):
    """Trigger.dev's event record, plus what tidings did with the event."""

    id: str
    name: str
    payload: Any
    context: Any = None
    timestamp: datetime
    deliverAt: datetime | None = None
    deliveredAt: datetime | None = None
    cancelledAt: datetime | None = None
    accepted: bool = Field(description="False when this id was sent before (nothing redone).")
    runIds: list[str] = Field(description="Runs the event started (none yet if delayed).")
    warning: str | None = Field(
        default=None,
        description="Set when nothing listens for the event (no task, no waiting run): "
        "it was recorded and did nothing.",
    )


class InngestEvent(BaseModel):
    """One event as Inngest's SDKs (3.x and 4.x) send it; fields a later SDK adds are
    ignored."""

    model_config = ConfigDict(extra="ignore", regex_engine="python-re")

    name: str = _NAME
    data: Any = None
    id: str | None = _ID
    ts: int | None = Field(
        default=None, ge=0, le=253_402_300_799_999, description="Milliseconds since the epoch."
    )
    v: str | None = Field(
        default=None, max_length=200, description="The event's schema version (not kept)."
    )
    user: dict[str, Any] | None = Field(
        default=None, description="Who caused the event (Inngest's `user`; not kept)."
    )


class InngestOut(BaseModel):
    ids: list[str]
    status: int = 200


# -- runs ----------------------------------------------------------------------------------
class TriggerBody(_Strict):
    payload: Any = None
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=255)
    delay: float | None = Field(default=None, ge=0, le=10 * 366 * 86400, description="Seconds.")
    run_at: InRange = None
    priority: int | None = Field(default=None, ge=-(2**31), le=2**31 - 1)
    tags: list[str] | None = Field(default=None, max_length=50)
    concurrency_key: str | None = Field(default=None, max_length=255)


class TriggerOut(BaseModel):
    id: str
    created: bool = Field(description="False when the idempotency key matched an existing run.")


class ErrorOut(BaseModel):
    type: str
    message: str
    traceback: str | None = None

    @classmethod
    def of(cls, e: ErrorInfo) -> ErrorOut:
        return cls(
            type=readable(e.type),
            message=readable(e.message),
            traceback=readable(e.traceback) or None,
        )


class StepOut(BaseModel):
    name: str
    kind: str
    status: str
    attempts: int
    result: Any = None
    error: ErrorOut | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @classmethod
    def of(cls, s: Step) -> StepOut:
        return cls(
            name=s.name,
            kind=s.kind,
            status=s.status,
            attempts=s.attempts,
            result=readable(s.result),
            error=None if s.error is None else ErrorOut.of(s.error),
            started_at=s.started_at,
            finished_at=s.finished_at,
        )


class RunOut(BaseModel):
    id: str
    task_id: str
    status: RunStatus
    payload: Any = None
    result: Any = None
    error: ErrorOut | None = None
    attempt: int
    queue: str
    priority: int
    created_at: datetime
    run_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    wake_at: datetime | None = None
    idempotency_key: str | None = None
    tags: list[str]
    replay_of: str | None = None
    coalesced: int = Field(
        default=0,
        description="Triggers or events a debounced or batched run gathered (0: not such a run).",
    )
    coalesced_ids: list[str] | None = Field(
        default=None,
        description="Their trigger or event ids, oldest first. Only on GET /runs/{id}.",
    )
    steps: list[StepOut] | None = Field(default=None, description="Only on GET /runs/{id}.")

    @classmethod
    def of(cls, run: Run, *, steps: bool) -> RunOut:
        return cls(
            id=run.id,
            task_id=run.task_id,
            status=run.status,
            payload=readable(run.payload),
            result=readable(run.result),
            error=None if run.error is None else ErrorOut.of(run.error),
            attempt=run.attempt,
            queue=run.queue,
            priority=run.priority,
            created_at=run.created_at,
            run_at=run.run_at,
            started_at=run.started_at,
            finished_at=run.finished_at,
            wake_at=run.wake_at,
            idempotency_key=run.idempotency_key,
            tags=readable(list(run.tags)),
            replay_of=run.replay_of,
            coalesced=run.coalesced,
            coalesced_ids=list(run.coalesced_ids) if steps else None,
            steps=[StepOut.of(s) for s in run.steps] if steps else None,
        )


class RunPage(BaseModel):
    data: list[RunOut]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null at the end."
    )


_FilterName = Annotated[str, Field(min_length=1, max_length=255)]


class BulkBody(_Strict):
    """Cancel or replay every run the filter matches (None: any)."""

    kind: Literal["cancel", "replay"] = Field(
        description="cancel: queued, running or waiting runs (as POST /runs/{id}/cancel); "
        "replay: a new run of each (as POST /runs/{id}/replay)."
    )
    task: list[_FilterName] | None = Field(
        default=None, max_length=100, description="Only runs of these task ids."
    )
    status: list[_FilterName] | None = Field(
        default=None, max_length=6, description="Only runs with these statuses."
    )
    tags: list[_FilterName] | None = Field(
        default=None, max_length=100, description="Only runs carrying every one of these tags."
    )
    created_after: InRange = Field(default=None, description="Only runs created after this.")
    created_before: InRange = Field(default=None, description="Only runs created before this.")
    page_size: int = Field(default=500, ge=1, le=1000, description="Runs per transaction.")


class ReplayBody(_Strict):
    from_step: str | None = Field(
        default=None,
        min_length=1,
        max_length=1000,
        description="Start at this step: the run's steps before it are reused, not run again.",
    )
    payload: Any = Field(default=None, description="Replace the payload (absent: the run's).")


class BulkFilterOut(BaseModel):
    tasks: list[str] | None = None
    statuses: list[str] | None = None
    tags: list[str] | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


class BulkActionOut(BaseModel):
    id: str
    kind: str
    filter: BulkFilterOut
    total: int = Field(description="Runs matched (counted when made; exact once finished).")
    done: int = Field(description="Runs gone through so far.")
    changed: int = Field(description="Runs cancelled, or new runs made.")
    progress: float
    status: str = Field(description="running, completed, failed or cancelled.")
    run_id: str | None = Field(description="The tidings.runs.bulk run doing the work.")
    created_at: datetime
    finished_at: datetime | None = None

    @classmethod
    def of(cls, a: BulkAction) -> BulkActionOut:
        return cls(
            id=a.id,
            kind=a.kind,
            filter=BulkFilterOut(**readable(a.filter)),
            total=a.total,
            done=a.done,
            changed=a.changed,
            progress=round(a.progress, 4),
            status=a.status,
            run_id=a.run_id,
            created_at=a.created_at,
            finished_at=a.finished_at,
        )


class BulkActionList(BaseModel):
    data: list[BulkActionOut]


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorEnvelope(BaseModel):
    error: ErrorBody


class Health(BaseModel):
    status: str
    environment: str | None = None
    pending_migrations: list[str] | None = None
