"""Triggering tasks and reading, cancelling and replaying runs."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import Field

from tidings.app import Tidings
from tidings.records import RunStatus
from tidings.server import routes_trigger_dev_runs as sdk
from tidings.server.auth import require
from tidings.server.cursors import decode_cursor, encode_cursor
from tidings.server.errors import ApiError
from tidings.server.models import (
    BulkActionList,
    BulkActionOut,
    BulkBody,
    ReplayBody,
    RunOut,
    RunPage,
    TriggerBody,
    TriggerOut,
)
from tidings.server.models_trigger_dev import TriggerDevTrigger, TriggerDevTriggerOut
from tidings.server.routes_trigger_dev import trigger_one
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
    response_model=TriggerOut | TriggerDevTriggerOut,
    status_code=201,
    summary="Start a run of a task (tidings' body, or Trigger.dev's {payload, options})",
    tags=["runs"],
)
async def trigger(
    request: Request,
    response: Response,
    task_id: Annotated[str, Path(min_length=1, max_length=255)],
    body: Annotated[TriggerBody | TriggerDevTrigger, Field(union_mode="left_to_right")],
    key: Publisher,
) -> TriggerOut | TriggerDevTriggerOut:
    if isinstance(body, TriggerDevTrigger):  # the Trigger.dev SDK: it always sends options
        return await trigger_one(request, response, task_id, body)
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


@router.get(
    "/runs",
    response_model=None,
    summary="List runs, newest first (Trigger.dev's runs.list too)",
    tags=["runs"],
    responses={200: {"model": RunPage}},
)
async def list_runs(
    request: Request,
    key: Admin,
    task_id: Annotated[str | None, Query(max_length=255)] = None,
    status: Annotated[list[RunStatus] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
) -> RunPage | dict[str, Any]:
    if sdk.is_sdk_list(request):
        return await sdk.list_runs(request)
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
    summary="Start a new run of the same task and payload (from a step, with a payload)",
    tags=["runs"],
)
async def replay_run(
    request: Request, run_id: RunId, key: Admin, body: ReplayBody | None = None
) -> TriggerOut:
    app = _app(request)
    if body is None:
        handle = await app.replay_async(run_id)
    else:
        payload = body.payload if "payload" in body.model_fields_set else None
        handle = await app.replay_async(run_id, body.from_step, payload)
    return TriggerOut(id=handle.id, created=True)


BulkId = Annotated[str, Path(min_length=1, max_length=255)]


@router.post(
    "/bulk-actions",
    response_model=BulkActionOut,
    status_code=202,
    summary="Cancel or replay every run a filter matches (a worker carries it out)",
    tags=["runs"],
)
async def start_bulk_action(request: Request, body: BulkBody, key: Admin) -> BulkActionOut:
    runs = _app(request).runs
    start = runs.cancel_many_async if body.kind == "cancel" else runs.replay_many_async
    action = await start(
        task=body.task,
        status=body.status,
        tags=body.tags,
        created_after=body.created_after,
        created_before=body.created_before,
        page_size=body.page_size,
    )
    return BulkActionOut.of(action)


@router.get(
    "/bulk-actions",
    response_model=BulkActionList,
    summary="Bulk actions, newest first",
    tags=["runs"],
)
async def list_bulk_actions(
    request: Request, key: Admin, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> BulkActionList:
    actions = await _app(request).runs.bulk_actions_async(limit=limit)
    return BulkActionList(data=[BulkActionOut.of(a) for a in actions])


@router.get(
    "/bulk-actions/{bulk_id}",
    response_model=BulkActionOut,
    summary="A bulk action and its progress",
    tags=["runs"],
)
async def get_bulk_action(request: Request, bulk_id: BulkId, key: Admin) -> BulkActionOut:
    return BulkActionOut.of(await _app(request).runs.bulk_action_async(bulk_id))
