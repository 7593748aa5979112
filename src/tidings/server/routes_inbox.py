"""The inbox of one recipient, with an inbox token (``app.inbox_token``): list, unread
count, mark read, and the realtime stream. Made for browsers: the token may come as
``Authorization: Bearer`` or, where a header cannot be set (EventSource), ``?token=``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import StreamingResponse

from tidings.app import Tidings
from tidings.notify.tokens import InvalidTokenError
from tidings.server.auth import Authenticator
from tidings.server.errors import ApiError
from tidings.server.models_notify import (
    InboxItemOut,
    InboxPageOut,
    Marked,
    StreamRefreshed,
    UnreadCount,
)
from tidings.server.realtime import (
    MAX_STREAMS_PER_RECIPIENT,
    InboxHub,
    stream_events,
    token_expiry,
)

router = APIRouter(prefix="/api/v1/inbox", tags=["inbox"])


@dataclass(frozen=True)
class InboxAuth:
    recipient_id: str
    expires_at: datetime


def _app(request: Request) -> Tidings:
    app: Tidings = request.app.state.tidings
    return app


async def inbox_auth(
    request: Request,
    token: Annotated[str | None, Query(max_length=4096, description="The inbox token.")] = None,
) -> InboxAuth:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    given = value.strip() if scheme.lower() == "bearer" and value.strip() else token
    if not given:
        raise ApiError(401, "missing inbox token: 'Authorization: Bearer <token>' or ?token=")
    app = _app(request)
    try:
        recipient = await app.verify_inbox_token_async(given)
    except (InvalidTokenError, ValueError) as exc:
        raise ApiError(401, f"invalid inbox token: {exc}") from None
    auth: Authenticator = request.app.state.auth
    auth.limit(f"inbox:{recipient}")
    return InboxAuth(recipient, token_expiry(given))


Reader = Annotated[InboxAuth, Depends(inbox_auth)]


@router.get("", response_model=InboxPageOut, summary="The inbox, newest first")
async def list_inbox(
    request: Request,
    who: Reader,
    unread_only: bool = False,
    archived: bool = False,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> InboxPageOut:
    app = _app(request)
    page = await app.inbox.page_async(
        who.recipient_id, unread_only=unread_only, archived=archived, cursor=cursor, limit=limit
    )
    unread = await app.inbox.unread_count_async(who.recipient_id)
    return InboxPageOut(
        data=[InboxItemOut.of(i) for i in page.items],
        next_cursor=page.next_cursor,
        unread_count=unread,
    )


@router.get("/unread-count", response_model=UnreadCount, summary="How many are unread")
async def unread_count(request: Request, who: Reader) -> UnreadCount:
    return UnreadCount(unread_count=await _app(request).inbox.unread_count_async(who.recipient_id))


@router.post("/read-all", response_model=Marked, summary="Mark every item read")
async def read_all(request: Request, who: Reader) -> Marked:
    app = _app(request)
    n = await app.inbox.mark_all_read_async(who.recipient_id)
    return Marked(updated=n, unread_count=await app.inbox.unread_count_async(who.recipient_id))


@router.post(
    "/{item_id}/read",
    response_model=Marked,
    summary="Mark one item read",
    responses={404: {"description": "No such item in this inbox."}},
)
async def read_one(
    request: Request, who: Reader, item_id: Annotated[str, Path(min_length=1, max_length=255)]
) -> Marked:
    app = _app(request)
    found = await asyncio.to_thread(app.store.inbox.items, who.recipient_id, [item_id])
    if not found:  # another recipient's item is as unknown as a made-up one
        raise ApiError(404, f"no inbox item {item_id!r} in this inbox")
    n = await app.inbox.mark_read_async(who.recipient_id, [item_id])
    return Marked(updated=n, unread_count=await app.inbox.unread_count_async(who.recipient_id))


@router.get(
    "/stream",
    summary="Server-Sent Events: new items and read-state changes, resumable",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream(
    request: Request,
    who: Reader,
    last_event_id_header: Annotated[
        str | None, Header(alias="Last-Event-ID", max_length=20)
    ] = None,
    last_event_id: Annotated[
        str | None,
        Query(max_length=20, description="For clients that cannot send Last-Event-ID."),
    ] = None,
) -> StreamingResponse:
    after = None
    last_event_id = last_event_id_header or last_event_id
    if last_event_id not in (None, ""):
        digits = last_event_id.isascii() and last_event_id.isdigit()
        if not digits or int(last_event_id) > 2**63 - 1:
            raise ApiError(422, "Last-Event-ID must be a sequence number this stream sent")
        after = int(last_event_id)
    hub: InboxHub = request.app.state.inbox_hub
    if hub.closing:
        raise ApiError(503, "the server is shutting down: reconnect in a moment")
    if hub.open_count(who.recipient_id) >= MAX_STREAMS_PER_RECIPIENT:
        raise ApiError(
            429,
            f"this recipient already has {MAX_STREAMS_PER_RECIPIENT} open streams on this "
            "server: close one first",
            headers={"Retry-After": "5"},
        )
    state = hub.open(who.recipient_id, who.expires_at)
    return StreamingResponse(
        stream_events(hub, state, after),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post(
    "/stream/{stream_id}/token",
    response_model=StreamRefreshed,
    summary="Give an open stream a fresh token so it is not closed when the old expires",
)
async def refresh_stream(
    request: Request, who: Reader, stream_id: Annotated[str, Path(max_length=64)]
) -> StreamRefreshed:
    hub: InboxHub = request.app.state.inbox_hub
    state = hub.streams.get(stream_id)
    if state is None or state.recipient_id != who.recipient_id:
        raise ApiError(404, f"no open stream {stream_id!r} of this recipient on this server")
    state.expires_at = max(state.expires_at, who.expires_at)
    state.wake.set()
    return StreamRefreshed(stream=state.id, expires_at=state.expires_at)
