"""Recipients, push tokens, preferences, sending notifications and the delivery log
(admin keys)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from tidings.app import Tidings
from tidings.records.notify import Channel, DeliveryStatus
from tidings.server.auth import require
from tidings.server.models_notify import (
    Deactivated,
    DeactivateIn,
    DeliveryOut,
    NotifyIn,
    NotifyOut,
    PreferenceIn,
    PreferenceOut,
    PushTokenIn,
    PushTokenOut,
    RecipientIn,
    RecipientOut,
)
from tidings.server.tracing import caller_trace
from tidings.store.keys import ApiKeyRecord

router = APIRouter(prefix="/api/v1", tags=["notifications"])
Admin = Annotated[ApiKeyRecord, Depends(require("admin"))]
RecipientId = Annotated[str, Path(min_length=1, max_length=255)]


def _app(request: Request) -> Tidings:
    app: Tidings = request.app.state.tidings
    return app


@router.put("/recipients/{recipient_id}", response_model=RecipientOut, summary="Create or update")
async def upsert_recipient(
    request: Request, recipient_id: RecipientId, body: RecipientIn, key: Admin
) -> RecipientOut:
    fields: dict[str, Any] = body.model_dump(exclude_unset=True)
    if fields.get("quiet_hours") is not None:
        fields["quiet_hours"] = tuple(fields["quiet_hours"])
    app = _app(request)
    recipient = await asyncio.to_thread(lambda: app.recipients.upsert(recipient_id, **fields))
    return RecipientOut.of(recipient)


@router.get("/recipients/{recipient_id}", response_model=RecipientOut, summary="One recipient")
async def get_recipient(request: Request, recipient_id: RecipientId, key: Admin) -> RecipientOut:
    return RecipientOut.of(await asyncio.to_thread(_app(request).recipients.get, recipient_id))


@router.delete(
    "/recipients/{recipient_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a recipient (profile, tokens, preferences, inbox; the log stays)",
)
async def delete_recipient(request: Request, recipient_id: RecipientId, key: Admin) -> Response:
    app = _app(request)
    await asyncio.to_thread(app.recipients.get, recipient_id)  # 404 if unknown
    await asyncio.to_thread(app.recipients.delete, recipient_id)
    return Response(status_code=204)


@router.post(
    "/recipients/{recipient_id}/push-tokens",
    response_model=PushTokenOut,
    status_code=201,
    summary="Register a device's push token",
)
async def add_push_token(
    request: Request, recipient_id: RecipientId, body: PushTokenIn, key: Admin
) -> PushTokenOut:
    app = _app(request)
    token = await asyncio.to_thread(
        lambda: app.recipients.add_push_token(
            recipient_id, body.token, platform=body.platform, device_name=body.device_name
        )
    )
    return PushTokenOut.of(token)


@router.get(
    "/recipients/{recipient_id}/push-tokens",
    response_model=list[PushTokenOut],
    summary="A recipient's push tokens",
)
async def list_push_tokens(
    request: Request,
    recipient_id: RecipientId,
    key: Admin,
    active_only: bool = True,
) -> list[PushTokenOut]:
    app = _app(request)
    await asyncio.to_thread(app.recipients.get, recipient_id)
    tokens = await asyncio.to_thread(
        lambda: app.recipients.push_tokens(recipient_id, active_only=active_only)
    )
    return [PushTokenOut.of(t) for t in tokens]


@router.post(
    "/push-tokens/deactivate", response_model=Deactivated, summary="Deactivate a push token"
)
async def deactivate_push_token(request: Request, body: DeactivateIn, key: Admin) -> Deactivated:
    app = _app(request)
    done = await asyncio.to_thread(app.recipients.deactivate_push_token, body.token)
    return Deactivated(deactivated=done)


@router.get(
    "/recipients/{recipient_id}/preferences",
    response_model=list[PreferenceOut],
    summary="A recipient's channel preferences",
)
async def list_preferences(
    request: Request, recipient_id: RecipientId, key: Admin
) -> list[PreferenceOut]:
    app = _app(request)
    await asyncio.to_thread(app.recipients.get, recipient_id)
    prefs = await asyncio.to_thread(app.preferences.list, recipient_id)
    return [PreferenceOut.of(p) for p in prefs]


@router.put(
    "/recipients/{recipient_id}/preferences",
    response_model=list[PreferenceOut],
    summary="Turn a channel on or off, for one type or (type null) for all",
)
async def set_preference(
    request: Request, recipient_id: RecipientId, body: PreferenceIn, key: Admin
) -> list[PreferenceOut]:
    app = _app(request)

    def update() -> list[PreferenceOut]:
        app.recipients.get(recipient_id)
        host = request.client.host if request.client else None
        app.preferences.set(
            recipient_id, type=body.type, channel=body.channel, enabled=body.enabled,
            actor=f"api key {key.name}", origin=f"api ({host})" if host else "api",
        )  # fmt: skip
        return [PreferenceOut.of(p) for p in app.preferences.list(recipient_id)]

    return await asyncio.to_thread(update)


@router.post(
    "/notifications",
    response_model=NotifyOut,
    status_code=202,
    summary="Send a notification (a durable run routes and delivers it)",
)
async def notify(request: Request, response: Response, body: NotifyIn, key: Admin) -> NotifyOut:
    app = _app(request)
    with caller_trace(request):
        handle = await asyncio.to_thread(
            lambda: app.notify(
                body.type,
                to=body.to,
                data=body.data,
                channels=body.channels,
                dedup_key=body.dedup_key,
                tags=body.tags,
            )
        )
    if not handle.created:
        response.status_code = 200
    return NotifyOut(run_id=handle.id, created=handle.created)


StatusQuery = Annotated[str | None, Query(description=", ".join(DeliveryStatus))]


@router.get("/deliveries", response_model=list[DeliveryOut], summary="The delivery log")
async def list_deliveries(
    request: Request,
    key: Admin,
    to: Annotated[str | None, Query(max_length=255)] = None,
    type: Annotated[str | None, Query(max_length=200)] = None,
    channel: Channel | None = None,
    status: StatusQuery = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DeliveryOut]:
    app = _app(request)
    found = await asyncio.to_thread(
        lambda: app.deliveries.list(to, type, channel, status, limit=limit)
    )
    return [DeliveryOut.of(d) for d in found]
