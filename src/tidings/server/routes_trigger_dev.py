"""Trigger.dev's trigger and batch endpoints, for its official SDK (v3 and v4).

``tasks.trigger`` posts to ``/api/v1/tasks/{id}/trigger``, the path of tidings' own
trigger endpoint, which hands SDK-shaped bodies to :func:`trigger_one` here. Batches:
SDK 3.x posts every item at once to ``/api/v1/tasks/batch``; SDK 4.x creates a batch
(``/api/v3/batches``) and then streams its items as NDJSON
(``/api/v3/batches/{id}/items``). Every batch starts all its runs in one transaction or
none. The batch id carries the item count, so the two calls of SDK 4.x need no state
on the server and may reach different API servers.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import ValidationError as PydanticValidationError

from tidings.app import Tidings
from tidings.errors import ConfigError
from tidings.handle import RunHandle
from tidings.ids import new_id
from tidings.notify.tokens import sign_token
from tidings.options import TriggerRequest
from tidings.server.auth import require
from tidings.server.errors import ApiError
from tidings.server.models_trigger_dev import (
    BatchItem,
    BatchRunOut,
    BatchV2Body,
    BatchV2Out,
    CreateBatchBody,
    CreateBatchOut,
    StreamBatchOut,
    TriggerDevTrigger,
    TriggerDevTriggerOut,
    TriggerOptions,
)
from tidings.server.tracing import caller_trace
from tidings.server.trigger_dev import decode_packet, parse_delay
from tidings.store.keys import ApiKeyRecord

log = logging.getLogger("tidings.server")
router = APIRouter(tags=["trigger.dev"])
Publisher = Annotated[ApiKeyRecord, Depends(require("publish"))]

RUN_TOKEN_PURPOSE = "trigger.dev/run"
RUN_TOKEN_TTL = timedelta(hours=1)
_BATCH_ID = re.compile(r"^batch_[0-9A-Z]{26}n([0-9]{1,4})$")


def _app(request: Request) -> Tidings:
    app: Tidings = request.app.state.tidings
    return app


def to_request(
    app: Tidings, task: str, payload: object, options: TriggerOptions, where: str
) -> TriggerRequest:
    """One SDK trigger as tidings' ``TriggerRequest``; 422 naming the field (under
    ``where``, e.g. ``body.items[3]``) if bad.

    ``concurrencyKey`` keys the task's concurrency limit; a task without one ignores it,
    as a Trigger.dev queue without a limit does.
    """
    now = app.clock.now()
    limited = task in app.tasks and app.tasks[task].flow.concurrency is not None
    key = options.idempotencyKey
    if key is not None and len(key) > 255:
        # tidings keys are at most 255 characters; longer ones keep their identity hashed
        key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    delay = options.delay
    run_at = (
        delay if isinstance(delay, datetime) else parse_delay(delay, f"{where}.options.delay", now)
    )
    return TriggerRequest(
        task=task,
        payload=decode_packet(payload, options.payloadType, f"{where}.payload"),
        idempotency_key=key,
        run_at=run_at,
        priority=None if options.priority is None else round(options.priority),
        tags=tuple(options.tags or ()),
        concurrency_key=options.concurrencyKey if limited else None,
    )


async def token_secret(request: Request) -> bytes | None:
    """The environment's signing secret, read once per process; None in production
    without one (then no run token is given: the SDK makes its own, which tidings
    does not accept, and runs are read with an admin key)."""
    state = request.app.state
    secret: bytes | None = getattr(state, "trigger_dev_secret", None)
    if secret is None:
        try:
            secret = await asyncio.to_thread(_app(request).signing_secret)
        except ConfigError as exc:
            log.warning("no x-trigger-jwt run tokens: %s", exc)
            secret = b""
        state.trigger_dev_secret = secret
    return secret or None


def run_token(app: Tidings, secret: bytes, run_id: str) -> str:
    """A token that reads one run (``runs.retrieve``) for an hour: ``x-trigger-jwt``."""
    return sign_token(
        secret,
        environment=app.environment,
        subject=run_id,
        ttl=RUN_TOKEN_TTL,
        now=app.clock.now(),
        purpose=RUN_TOKEN_PURPOSE,
    )


async def trigger_one(
    request: Request, response: Response, task_id: str, body: TriggerDevTrigger
) -> TriggerDevTriggerOut:
    """``tasks.trigger``: ``{id, isCached}`` and a run-scoped token in ``x-trigger-jwt``."""
    app = _app(request)
    want = to_request(app, task_id, body.payload, body.options, "body")
    with caller_trace(request):
        handle = await app.trigger_async(
            want.task,
            want.payload,
            idempotency_key=want.idempotency_key,
            run_at=want.run_at,
            priority=want.priority,
            tags=want.tags,
            concurrency_key=want.concurrency_key,
        )
    response.status_code = 201 if handle.created else 200
    secret = await token_secret(request)
    if secret is not None:
        response.headers["x-trigger-jwt"] = run_token(app, secret, handle.id)
    return TriggerDevTriggerOut(id=handle.id, isCached=not handle.created)


async def _start(request: Request, items: list[BatchItem], field: str) -> list[RunHandle]:
    app = _app(request)
    wants = [
        to_request(app, item.task, item.payload, item.options, f"{field}[{i}]")
        for i, item in enumerate(items)
    ]
    with caller_trace(request):
        return await app.trigger_batch_async(wants)


def _batch_out(batch_id: str, items: list[BatchItem], handles: list[RunHandle]) -> BatchV2Out:
    runs = [
        BatchRunOut(
            id=h.id,
            taskIdentifier=item.task,
            isCached=not h.created,
            idempotencyKey=item.options.idempotencyKey,
        )
        for item, h in zip(items, handles, strict=True)
    ]
    return BatchV2Out(
        id=batch_id,
        isCached=bool(runs) and all(r.isCached for r in runs),
        runs=runs,
        runCount=len(runs),
    )


@router.post(
    "/api/v1/tasks/batch",
    response_model=BatchV2Out,
    response_model_exclude_none=True,
    summary="Trigger.dev SDK 3.x batch: start every item's run, or none",
)
@router.post(
    "/api/v2/tasks/batch",
    response_model=BatchV2Out,
    response_model_exclude_none=True,
    summary="Trigger.dev batch (v2): start every item's run, or none",
)
async def batch_v2(request: Request, body: BatchV2Body, key: Publisher) -> BatchV2Out:
    handles = await _start(request, body.items, "body.items")
    return _batch_out(new_id("batch"), body.items, handles)


@router.post(
    "/api/v3/batches",
    response_model=CreateBatchOut,
    response_model_exclude_none=True,
    summary="Trigger.dev SDK 4.x batch, phase 1: announce how many items follow",
)
async def create_batch(body: CreateBatchBody, key: Publisher) -> CreateBatchOut:
    # Nothing is stored: the id carries the count; each item keeps its own idempotency.
    return CreateBatchOut(
        id=f"{new_id('batch')}n{body.runCount}",
        runCount=body.runCount,
        isCached=False,
        idempotencyKey=body.idempotencyKey,
    )


def _ndjson_items(raw: bytes, expected: int) -> list[BatchItem]:
    items: dict[int, BatchItem] = {}
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = BatchItem.model_validate(json.loads(line))
        except (ValueError, PydanticValidationError) as exc:
            first = str(exc).splitlines()[0:3]
            raise ApiError(422, f"line {number}: not a batch item: {' '.join(first)}") from None
        index = len(items) if item.index is None else item.index
        if index >= expected or index in items:
            raise ApiError(
                422, f"line {number}: index {index} is repeated or not below runCount {expected}"
            )
        items[index] = item
    if len(items) != expected:
        raise ApiError(
            422,
            f"the batch announced {expected} items but {len(items)} arrived; nothing was "
            "started (send every item in one request)",
        )
    return [items[i] for i in range(expected)]


@router.post(
    "/api/v3/batches/{batch_id}/items",
    response_model=StreamBatchOut,
    summary="Trigger.dev SDK 4.x batch, phase 2: the items as NDJSON; all start or none",
)
async def stream_batch_items(
    request: Request,
    batch_id: Annotated[str, Path(max_length=100)],
    key: Publisher,
) -> StreamBatchOut:
    match = _BATCH_ID.match(batch_id)
    if match is None:
        raise ApiError(404, f"no batch {batch_id!r}: create it with POST /api/v3/batches")
    items = _ndjson_items(await request.body(), int(match.group(1)))
    # The SDK sends the whole stream again after a dropped connection: an item without
    # its own key is keyed by batch and index, so a resend starts nothing twice.
    for index, item in enumerate(items):
        if item.options.idempotencyKey is None:
            item.options.idempotencyKey = f"{batch_id}/{index}"
    handles = await _start(request, items, "items")
    made = sum(1 for h in handles if h.created)
    return StreamBatchOut(
        id=batch_id,
        itemsAccepted=made,
        itemsDeduplicated=len(handles) - made,
        sealed=True,
    )
