"""Publishing events: Trigger.dev's and hand-written bodies, and Inngest's ``/e/{key}``."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Request

from tidings.app import Tidings
from tidings.records import EventReceipt
from tidings.server.auth import Authenticator, require
from tidings.server.models import (
    EventBody,
    EventOut,
    InngestEvent,
    InngestOut,
    NameDataBody,
    NamePayloadBody,
    TriggerDevBody,
    aware,
)
from tidings.server.tracing import caller_trace
from tidings.store.keys import ApiKeyRecord

router = APIRouter()
Publisher = Annotated[ApiKeyRecord, Depends(require("publish"))]


def _app(request: Request) -> Tidings:
    app: Tidings = request.app.state.tidings
    return app


def _normalise(
    body: EventBody, now: datetime
) -> tuple[str, Any, str | None, datetime, Any, datetime | None]:
    """(name, data, id, ts, context, deliver_at) of any accepted body shape."""
    if isinstance(body, TriggerDevBody):
        ev, options = body.event, body.options
        deliver_at = None
        if options is not None and options.deliverAt is not None:
            deliver_at = aware(options.deliverAt)
        elif options is not None and options.deliverAfter is not None:
            deliver_at = now + timedelta(seconds=options.deliverAfter)
        return ev.name, ev.payload, ev.id, aware(ev.timestamp) or now, ev.context, deliver_at
    if isinstance(body, NamePayloadBody):
        return body.name, body.payload, body.id, aware(body.timestamp) or now, None, None
    assert isinstance(body, NameDataBody)
    return body.name, body.data, body.id, aware(body.ts) or now, None, None


@router.post(
    "/api/v1/events",
    response_model=EventOut,
    summary="Send an event (Trigger.dev v1, {name, payload} or {name, data} body)",
    tags=["events"],
)
async def send_event(request: Request, body: EventBody, key: Publisher) -> EventOut:
    app = _app(request)
    now = app.clock.now()
    name, data, event_id, ts, context, deliver_at = _normalise(body, now)
    with caller_trace(request):
        receipt: EventReceipt = await app.send_event_async(
            name, data, id=event_id, ts=ts, deliver_at=deliver_at
        )
    later = deliver_at is not None and deliver_at > now
    return EventOut(
        id=receipt.event_id,
        name=name,
        payload=data,
        context=context,
        timestamp=ts,
        deliverAt=deliver_at if later else None,
        deliveredAt=None if later else now,
        accepted=receipt.accepted,
        runIds=list(receipt.run_ids),
        warning=receipt.warning,
    )


def _inngest_ts(ms: int | None) -> datetime | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC)


async def _send_inngest(app: Tidings, events: list[InngestEvent]) -> InngestOut:
    # Validate every event before sending any, so a bad one in a batch changes nothing.
    for ev in events:
        app.kernel.build_event(ev.name, ev.data, ev.id, _inngest_ts(ev.ts))

    def send_all() -> list[str]:
        return [
            app.send_event(ev.name, ev.data, id=ev.id, ts=_inngest_ts(ev.ts)).event_id
            for ev in events
        ]

    return InngestOut(ids=await asyncio.to_thread(send_all), status=200)


InngestBody = Annotated[InngestEvent | list[InngestEvent], Body()]
KeyPath = Annotated[str, Path(description="A tidings API key with publish scope.")]


async def _key_in_path(request: Request, key: KeyPath) -> ApiKeyRecord:
    """The key is checked as a dependency: before the body is validated, so a bad key
    is a 401 whatever the body holds."""
    auth: Authenticator = request.app.state.auth
    return await auth.check(key, "publish")


PathPublisher = Annotated[ApiKeyRecord, Depends(_key_in_path)]


async def _inngest(request: Request, body: InngestEvent | list[InngestEvent]) -> InngestOut:
    events = body if isinstance(body, list) else [body]
    with caller_trace(request):
        return await _send_inngest(_app(request), events)


@router.post(
    "/e/{key}",
    response_model=InngestOut,
    summary="Send events in Inngest's format (one event or an array)",
    tags=["events"],
)
async def inngest_root(request: Request, key: PathPublisher, body: InngestBody) -> InngestOut:
    return await _inngest(request, body)


@router.post(
    "/api/v1/e/{key}",
    response_model=InngestOut,
    summary="Send events in Inngest's format, under /api/v1",
    tags=["events"],
)
async def inngest_v1(request: Request, key: PathPublisher, body: InngestBody) -> InngestOut:
    return await _inngest(request, body)
