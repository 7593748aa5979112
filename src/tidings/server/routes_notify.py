"""Recipients, push tokens, preferences, sending notifications and the delivery log
(admin keys)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from tidings.app import Tidings
from tidings.handle import BroadcastHandle
from tidings.records.notify import Channel, DeliveryStatus, Topic
from tidings.server.auth import require
from tidings.server.errors import ApiError
from tidings.server.models_notify import (
    BroadcastOut,
    Deactivated,
    DeactivateIn,
    DeliveryOut,
    ErasureOut,
    NotifyIn,
    NotifyOut,
    PreferenceIn,
    PreferenceOut,
    PushTokenIn,
    PushTokenOut,
    RecipientIn,
    RecipientOut,
    SubscribedOut,
    SubscribersIn,
    SubscribersOut,
    TopicRef,
    UnsubscribedOut,
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


@router.get(
    "/recipients/{recipient_id}/export",
    response_model=dict[str, Any],
    summary="Everything held about a recipient (a privacy export)",
)
async def export_recipient(
    request: Request, recipient_id: RecipientId, key: Admin
) -> dict[str, Any]:
    """The recipient's profile, tokens, preferences, topics, inbox, notifications,
    deliveries, outbox, broadcasts and the runs, events and schedules naming them (see
    ``app.recipients.export``). 404 if nothing names them."""
    return await asyncio.to_thread(_app(request).recipients.export, recipient_id)


@router.post(
    "/recipients/{recipient_id}/erase",
    response_model=ErasureOut,
    summary="Erase everything held about a recipient (cannot be undone)",
)
async def erase_recipient(request: Request, recipient_id: RecipientId, key: Admin) -> ErasureOut:
    """Remove or anonymise every row naming the recipient and record the erasure (see
    ``app.recipients.erase``); returns the audit record. 404 if nothing names them,
    and then nothing changed."""
    app = _app(request)
    done = await asyncio.to_thread(
        lambda: app.recipients.erase(recipient_id, actor=f"api key {key.name}")
    )
    return ErasureOut.of(done)


@router.get("/erasures", response_model=list[ErasureOut], summary="The audit of erasures")
async def list_erasures(
    request: Request,
    key: Admin,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[ErasureOut]:
    found = await asyncio.to_thread(_app(request).recipients.erasures, limit)
    return [ErasureOut.of(e) for e in found]


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
    response_model_exclude_none=True,
    status_code=202,
    summary="Send a notification (a durable run routes and delivers it)",
)
async def notify(request: Request, response: Response, body: NotifyIn, key: Admin) -> NotifyOut:
    """``to``: one recipient id, ``{"topic": name}`` or a list of recipient ids (each
    notified once). A list longer than the server's ``max_notify_list`` is refused
    with 413: notify a topic instead."""
    app = _app(request)
    to: str | Topic | list[str]
    if isinstance(body.to, TopicRef):
        to = Topic(body.to.topic)
    elif isinstance(body.to, list):
        limit = request.app.state.settings.max_notify_list
        if len(body.to) > limit:
            raise ApiError(
                413,
                f"'to' lists {len(body.to)} recipients, more than this server takes in one "
                f"request ({limit}): subscribe them to a topic (PUT /api/v1/topics/{{topic}}/"
                'subscribers) and notify {"topic": ...} instead',
            )
        to = body.to
    else:
        to = body.to
    with caller_trace(request):
        handle = await asyncio.to_thread(
            lambda: app.notify(
                body.type,
                to=to,
                data=body.data,
                channels=body.channels,
                dedup_key=body.dedup_key,
                tags=body.tags,
            )
        )
    if not handle.created:
        response.status_code = 200
    if isinstance(handle, BroadcastHandle):
        return NotifyOut(run_id=handle.run_id, created=handle.created, broadcast_id=handle.id)
    return NotifyOut(run_id=handle.id, created=handle.created)


TopicName = Annotated[str, Path(min_length=1, max_length=200)]


@router.put(
    "/topics/{topic:path}/subscribers",
    response_model=SubscribedOut,
    summary="Subscribe recipients to a topic (idempotent)",
)
async def subscribe(
    request: Request, topic: TopicName, body: SubscribersIn, key: Admin
) -> SubscribedOut:
    app = _app(request)

    def run() -> SubscribedOut:
        app.topics.subscribe(topic, body.recipients)
        return SubscribedOut(topic=topic, subscribers=app.topics.count(topic))

    return await asyncio.to_thread(run)


@router.delete(
    "/topics/{topic:path}/subscribers",
    response_model=UnsubscribedOut,
    summary="Unsubscribe recipients from a topic",
)
async def unsubscribe(
    request: Request, topic: TopicName, body: SubscribersIn, key: Admin
) -> UnsubscribedOut:
    app = _app(request)
    removed = await asyncio.to_thread(app.topics.unsubscribe, topic, body.recipients)
    return UnsubscribedOut(topic=topic, removed=removed)


@router.get(
    "/topics/{topic:path}/subscribers",
    response_model=SubscribersOut,
    summary="A page of a topic's subscribers, in id order",
)
async def subscribers(
    request: Request,
    topic: TopicName,
    key: Admin,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=255)] = None,
) -> SubscribersOut:
    app = _app(request)
    page = await asyncio.to_thread(
        lambda: app.topics.subscribers(topic, limit=limit, cursor=cursor)
    )
    return SubscribersOut(topic=page.topic, subscribers=list(page.subscribers), cursor=page.cursor)


@router.get("/broadcasts/{broadcast_id}", response_model=BroadcastOut, summary="A broadcast")
async def get_broadcast(
    request: Request, broadcast_id: Annotated[str, Path(max_length=64)], key: Admin
) -> BroadcastOut:
    app = _app(request)
    return BroadcastOut.of(await asyncio.to_thread(app.broadcasts.get, broadcast_id))


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
