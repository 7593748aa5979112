"""The retention policy, the latest prune, and pruning now (admin keys)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from tidings.app import Tidings
from tidings.records.pruning import PruneReport
from tidings.server.auth import require
from tidings.store.keys import ApiKeyRecord

router = APIRouter(prefix="/api/v1")
Admin = Annotated[ApiKeyRecord, Depends(require("admin"))]


class PruneOut(BaseModel):
    id: str | None = Field(description="The recorded prune's id; null for a dry run.")
    started_at: datetime
    finished_at: datetime
    duration_seconds: float
    dry_run: bool
    counts: dict[str, int] = Field(description="Rows of each kind deleted (or that would be).")
    batches: int = Field(description="Transactions that deleted something.")
    rows: int = Field(description="Every row deleted, dependants (steps, logs...) included.")
    max_batch_rows: int = Field(description="The most rows one transaction deleted.")
    complete: bool = Field(description="False if the pass stopped at its time budget.")

    @classmethod
    def of(cls, report: PruneReport) -> PruneOut:
        return cls.model_validate(report.to_json())


class RetentionOut(BaseModel):
    periods: dict[str, float | None] = Field(
        description="Seconds each kind is kept (runs, events, deliveries, outbox, inbox); "
        "null: kept forever."
    )
    batch: int = Field(description="Rows deleted per transaction.")
    last_prune: PruneOut | None


def _app(request: Request) -> Tidings:
    app: Tidings = request.app.state.tidings
    return app


@router.get(
    "/retention",
    response_model=RetentionOut,
    summary="The retention policy and the latest prune",
    tags=["operations"],
)
async def retention(request: Request, key: Admin) -> RetentionOut:
    app = _app(request)
    last = await app.last_prune_async()
    periods = app.retention.periods()
    return RetentionOut(
        periods={k: None if v is None else v.total_seconds() for k, v in periods.items()},
        batch=app.retention.batch,
        last_prune=None if last is None else PruneOut.of(last),
    )


@router.post(
    "/retention/prune",
    response_model=PruneOut,
    summary="Delete now what the retention policy no longer keeps (or count it)",
    tags=["operations"],
)
async def prune(
    request: Request,
    key: Admin,
    dry_run: Annotated[bool, Query(description="Count what would go; delete nothing.")] = False,
) -> PruneOut:
    return PruneOut.of(await _app(request).prune_async(dry_run=dry_run))
