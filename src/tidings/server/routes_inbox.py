"""The inbox of one recipient, with an inbox token (``app.inbox_token``): list (tabs and
filters), counts, every state change (seen, read, unread, archive, unarchive, snooze;
bulk bodies ``{"ids": [...]}``), and the realtime stream. Made for browsers: the token
may come as ``Authorization: Bearer`` or, where a header cannot be set (EventSource),
``?token=``. Ids of another recipient's items are counted as ``not_found`` and never
changed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import StreamingResponse

from tidings.app import Tidings
from tidings.notify.tokens import InvalidTokenError
from tidings.server.auth import Authenticator
from tidings.server.errors import ApiError
from tidings.server.inbox_items import items_out
from tidings.server.models_notify import (
    InboxCountsOut,
    InboxIds,
    InboxPageOut,
    Marked,
    SnoozeIn,
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


def _split(value: str | None) -> list[str] | None:
    if value is None:
        return None
    parts = [p.strip() for p in value.split(",") if p.strip()]
    return parts or None


@router.get("", response_model=InboxPageOut, summary="The inbox, newest first")
async def list_inbox(
    request: Request,
    who: Reader,
    status: Annotated[
        Literal["unread", "all", "archived"] | None,
        Query(description="all: neither archived nor snoozed; unread: of those, not read"),
    ] = None,
    types: Annotated[str | None, Query(max_length=2000, description="Comma-separated.")] = None,
    tags: Annotated[str | None, Query(max_length=2000, description="Comma-separated.")] = None,
    unread_only: bool = False,
    archived: bool = False,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> InboxPageOut:
    app = _app(request)
    chosen = status or ("archived" if archived else "unread" if unread_only else "all")
    page = await app.inbox.page_async(
        who.recipient_id,
        status=chosen,
        types=_split(types),
        tags=_split(tags),
        cursor=cursor,
        limit=limit,
    )
    counts = await app.inbox.counts_async(who.recipient_id)
    return InboxPageOut(
        data=await asyncio.to_thread(items_out, app, list(page.items)),
        next_cursor=page.next_cursor,
        unread_count=counts.unread,
        counts=InboxCountsOut(**counts.to_json()),
    )


@router.get("/unread-count", response_model=UnreadCount, summary="How many are unread")
async def unread_count(request: Request, who: Reader) -> UnreadCount:
    return UnreadCount(unread_count=await _app(request).inbox.unread_count_async(who.recipient_id))


@router.get("/counts", response_model=InboxCountsOut, summary="Unread, unseen and archived")
async def counts(request: Request, who: Reader) -> InboxCountsOut:
    found = await _app(request).inbox.counts_async(who.recipient_id)
    return InboxCountsOut(**found.to_json())


async def _marked(app: Tidings, recipient: str, updated: int, given: int = 0) -> Marked:
    found = await app.inbox.counts_async(recipient)
    return Marked(
        updated=updated,
        not_found=max(given - updated, 0),
        unread_count=found.unread,
        counts=InboxCountsOut(**found.to_json()),
    )


async def _bulk(
    request: Request, who: InboxAuth, body: InboxIds, action: Callable[[str, list[str]], int]
) -> Marked:
    app = _app(request)
    ids = list(dict.fromkeys(body.ids))
    mine = await asyncio.to_thread(app.store.inbox.items, who.recipient_id, ids)
    n = await asyncio.to_thread(action, who.recipient_id, [i.id for i in mine])
    # not_found: ids that are not this recipient's (changed or not, theirs are counted
    # in updated only when they changed)
    result = await _marked(app, who.recipient_id, n)
    return result.model_copy(update={"not_found": len(ids) - len(mine)})


_BULK = {"description": 'Body {"ids": [...]}: up to 500 ids of this inbox.'}


@router.post("/seen", response_model=Marked, summary="Mark items seen", responses={200: _BULK})
async def seen(request: Request, who: Reader, body: InboxIds) -> Marked:
    return await _bulk(request, who, body, _app(request).inbox.mark_seen)


@router.post("/seen-all", response_model=Marked, summary="Mark every item in view seen")
async def seen_all(request: Request, who: Reader) -> Marked:
    app = _app(request)
    n = await app.inbox.mark_all_seen_async(who.recipient_id)
    return await _marked(app, who.recipient_id, n)


@router.post("/read", response_model=Marked, summary="Mark items read")
async def read_many(request: Request, who: Reader, body: InboxIds) -> Marked:
    return await _bulk(request, who, body, _app(request).inbox.mark_read)


@router.post("/unread", response_model=Marked, summary="Mark items unread")
async def unread_many(request: Request, who: Reader, body: InboxIds) -> Marked:
    return await _bulk(request, who, body, _app(request).inbox.mark_unread)


@router.post("/read-all", response_model=Marked, summary="Mark every item read")
async def read_all(request: Request, who: Reader) -> Marked:
    app = _app(request)
    n = await app.inbox.mark_all_read_async(who.recipient_id)
    return await _marked(app, who.recipient_id, n)


@router.post("/archive", response_model=Marked, summary="Archive items")
async def archive(request: Request, who: Reader, body: InboxIds) -> Marked:
    return await _bulk(request, who, body, _app(request).inbox.archive)


@router.post("/unarchive", response_model=Marked, summary="Move items back from the archive")
async def unarchive(request: Request, who: Reader, body: InboxIds) -> Marked:
    return await _bulk(request, who, body, _app(request).inbox.unarchive)


@router.post("/archive-read", response_model=Marked, summary="Archive every read item")
async def archive_read(request: Request, who: Reader) -> Marked:
    app = _app(request)
    n = await app.inbox.archive_all_read_async(who.recipient_id)
    return await _marked(app, who.recipient_id, n)


@router.post(
    "/snooze",
    response_model=Marked,
    summary="Hide items until a time; they come back unread (pushed to open streams)",
    responses={422: {"description": "until is naive or not in the future."}},
)
async def snooze(request: Request, who: Reader, body: SnoozeIn) -> Marked:
    app = _app(request)
    until = body.until
    if until.tzinfo is None:
        raise ApiError(422, "until must carry a timezone offset, e.g. 2030-01-01T08:00:00+07:00")

    def act(recipient: str, ids: list[str]) -> int:
        return app.inbox.snooze(recipient, ids, until=until)

    return await _bulk(request, who, body, act)


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
    return await _marked(app, who.recipient_id, n)


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
