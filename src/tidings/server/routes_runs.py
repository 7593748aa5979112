"""Triggering tasks and reading, cancelling and replaying runs."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from tidings.app import Tidings
from tidings.limits import check_name, check_timestamp
from tidings.records import RunStatus
from tidings.server.auth import require
from tidings.server.errors import ApiError
from tidings.server.models import RunOut, RunPage, TriggerBody, TriggerOut
from tidings.server.tracing import caller_trace
from tidings.store.keys import ApiKeyRecord

router = APIRouter(prefix="/api/v1")
Publisher = Annotated[ApiKeyRecord, Depends(require("publish"))]
Admin = Annotated[ApiKeyRecord, Depends(require("admin"))]
RunId = Annotated[str, Path(min_length=1, max_length=255)]


def _app(request: Request) -> Tidings:
    app: Tidings = request.app.state.tidings
    return app


@router.post(
    "/tasks/{task_id}/trigger",
    response_model=TriggerOut,
    status_code=201,
    summary="Start a run of a task",
    tags=["runs"],
)
async def trigger(
    request: Request,
    response: Response,
    task_id: Annotated[str, Path(min_length=1, max_length=255)],
    body: TriggerBody,
    key: Publisher,
) -> TriggerOut:
    with caller_trace(request):
        handle = await _app(request).trigger_async(
            task_id,
            body.payload,
            idempotency_key=body.idempotency_key,
            delay=body.delay,
            run_at=body.run_at,
            priority=body.priority,
            tags=body.tags,
            concurrency_key=body.concurrency_key,
        )
    if not handle.created:
        response.status_code = 200
    return TriggerOut(id=handle.id, created=handle.created)


def encode_cursor(created_at: datetime, run_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), run_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        when, run_id = json.loads(raw)
        at = datetime.fromisoformat(when)
        if at.tzinfo is None or not isinstance(run_id, str):
            raise ValueError(cursor)
        return check_timestamp(at, "cursor"), check_name(run_id, "cursor")
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ApiError(
            422, "cursor is not one this API returned", details={"field": "cursor"}
        ) from None


@router.get("/runs", response_model=RunPage, summary="List runs, newest first", tags=["runs"])
async def list_runs(
    request: Request,
    key: Admin,
    task_id: Annotated[str | None, Query(max_length=255)] = None,
    status: Annotated[list[RunStatus] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
) -> RunPage:
    before = decode_cursor(cursor) if cursor else None
    store = _app(request).store
    runs = await asyncio.to_thread(store.runs.page, task_id, status, before, limit + 1)
    more = len(runs) > limit
    runs = runs[:limit]
    last = runs[-1] if runs and more else None
    return RunPage(
        data=[RunOut.of(r, steps=False) for r in runs],
        next_cursor=None if last is None else encode_cursor(last.created_at, last.id),
    )


@router.get(
    "/runs/{run_id}", response_model=RunOut, summary="One run with its steps", tags=["runs"]
)
async def get_run(request: Request, run_id: RunId, key: Admin) -> RunOut:
    return RunOut.of(await _app(request).get_run_async(run_id), steps=True)


@router.post(
    "/runs/{run_id}/cancel",
    response_model=RunOut,
    summary="Cancel a queued, waiting or running run",
    tags=["runs"],
    responses={409: {"description": "The run had already finished."}},
)
async def cancel_run(request: Request, run_id: RunId, key: Admin) -> RunOut:
    app = _app(request)
    before = await app.get_run_async(run_id)
    if before.status.finished:
        raise ApiError(
            409,
            f"run {run_id} has already finished ({before.status.value})",
            code="run_finished",
            details={"status": before.status.value},
        )
    return RunOut.of(await app.cancel_async(run_id), steps=True)


@router.post(
    "/runs/{run_id}/replay",
    response_model=TriggerOut,
    status_code=201,
    summary="Start a new run of the same task and payload",
    tags=["runs"],
)
async def replay_run(request: Request, run_id: RunId, key: Admin) -> TriggerOut:
    handle = await _app(request).replay_async(run_id)
    return TriggerOut(id=handle.id, created=True)
