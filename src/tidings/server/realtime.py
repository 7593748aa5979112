"""The realtime inbox: Server-Sent Events of one recipient's inbox changes.

A stream reads the recipient's change feed (``app.inbox.changes_since``: a gapless
per-recipient sequence in commit order) from the last sequence it sent, so a client
that reconnects with ``Last-Event-ID`` misses nothing and gets nothing twice. What wakes
a stream is per store: on PostgreSQL a trigger NOTIFYs the recipient id at commit and
one LISTEN connection per process fans it out; on SQLite one task per process polls a
number that moves with every inbox change (one indexed read every 20 ms, only while
streams are open) and wakes every stream, each then reading its own feed.

A stream ends when its inbox token expires, unless the client sends a fresh token to
``POST /api/v1/inbox/stream/{stream}/token`` first (the stream stays open). Token expiry
is engine time (the app's clock); the waits and the warning before expiry are real time,
so on a :class:`~tidings.clock.ScaledClock` a client still gets its real minute to refresh.

When the server shuts down, every stream gets a last ``closing`` event and ends, so the
process need not wait for them (the client reconnects with ``Last-Event-ID``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tidings.app import Tidings
from tidings.clock import real_seconds
from tidings.ids import new_id
from tidings.server.inbox_items import items_out

log = logging.getLogger("tidings.server.realtime")

SQLITE_POLL = 0.02
"""Seconds between looks at the inbox marker on SQLite."""
KEEPALIVE = 15.0
"""Seconds between comment lines on an idle stream (proxies close silent ones)."""
EXPIRY_WARNING = timedelta(seconds=60)
"""How long (real time) before its token expires a stream asks for a new one."""
RETRY_MS = 2000
MAX_STREAMS_PER_RECIPIENT = 16
"""Open streams one recipient (whatever its tokens) may hold on one server process: a
tab or device each is plenty; past it a stream is refused 429, so one token cannot
hold a server's connections."""
BATCH = 200


def token_expiry(token: str) -> datetime:
    """The ``exp`` claim of a token already verified (so its claims can be trusted)."""
    body = token.strip().split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return datetime.fromtimestamp(int(claims["exp"]), UTC)


@dataclass
class StreamState:
    id: str
    recipient_id: str
    expires_at: datetime
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class InboxHub:
    """The open streams of one process and what wakes them."""

    def __init__(self, app: Tidings, *, expiry_warning: timedelta = EXPIRY_WARNING) -> None:
        self.app = app
        self.expiry_warning = expiry_warning
        self.closing = False
        self.streams: dict[str, StreamState] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._poller: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None

    def open(self, recipient_id: str, expires_at: datetime) -> StreamState:
        state = StreamState(new_id("stm"), recipient_id, expires_at)
        self.streams[state.id] = state
        self._ensure_started()
        return state

    def close(self, state: StreamState) -> None:
        self.streams.pop(state.id, None)

    def open_count(self, recipient_id: str) -> int:
        return sum(1 for s in self.streams.values() if s.recipient_id == recipient_id)

    def _ensure_started(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # first stream (or a new loop in tests)
            self._loop, self._poller, self._unsubscribe = loop, None, None
        if self._unsubscribe is not None or (self._poller is not None and not self._poller.done()):
            return
        # pushed by the store where it can (PostgreSQL LISTEN), else polled
        self._unsubscribe = self.app.store.subscribe_inbox(self._from_thread)
        if self._unsubscribe is None:
            self._poller = loop.create_task(self._poll())

    def _from_thread(self, recipient_id: str | None) -> None:
        loop = self._loop
        if loop is not None:
            # the loop may close between a check and the call: a closed loop has no streams
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self.poke, recipient_id)

    def poke(self, recipient_id: str | None) -> None:
        """Wake the streams of ``recipient_id`` (None: all of them)."""
        for state in list(self.streams.values()):
            if recipient_id is None or state.recipient_id == recipient_id:
                state.wake.set()

    async def _poll(self) -> None:
        store = self.app.store
        marker: int | None = None
        while self.streams:
            try:
                now = await asyncio.to_thread(store.inbox.marker)
            except Exception as exc:
                log.warning("inbox change check failed: %s", exc)
                now = None
            if now is not None and now != marker:
                if marker is not None:
                    self.poke(None)
                marker = now
            await asyncio.sleep(SQLITE_POLL)

    def close_all(self) -> None:
        """The server is stopping: every open stream sends ``closing`` and ends."""
        self.closing = True
        self.poke(None)

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._poller is not None:
            self._poller.cancel()


def sse(event: str | None, data: Any, event_id: int | None = None) -> str:
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    if event is not None:
        lines.append(f"event: {event}")
    lines.append("data: " + json.dumps(data, ensure_ascii=False, default=str))
    return "\n".join(lines) + "\n\n"


async def stream_events(
    hub: InboxHub, state: StreamState, last_event_id: int | None
) -> AsyncIterator[str]:
    """The body of ``GET /api/v1/inbox/stream``."""
    app, recipient = hub.app, state.recipient_id
    try:
        after = last_event_id
        if after is None:  # a new stream starts at the present
            after = await asyncio.to_thread(app.store.inbox.last_seq, recipient)
        counts = (await app.inbox.counts_async(recipient)).to_json()
        yield f"retry: {RETRY_MS}\n\n"
        ready = {
            "stream": state.id,
            "seq": after,
            "unread_count": counts["unread"],
            "counts": counts,
            "expires_at": state.expires_at.isoformat(),
        }
        yield sse("ready", ready)
        warned = False
        while not hub.closing:
            state.wake.clear()  # before reading: a change committed after this wakes us again
            changes = await app.inbox.changes_since_async(recipient, after, limit=BATCH)
            if changes:
                for chunk in await _render(app, recipient, changes):
                    yield chunk
                after = changes[-1].seq
                if len(changes) == BATCH:
                    continue
            event, warned, timeout = _expiry(hub, state, warned)
            if event is not None:
                yield event
                if event.startswith("event: token-expired"):
                    return
            try:
                await asyncio.wait_for(state.wake.wait(), max(timeout, 0.01))
            except TimeoutError:
                if timeout >= KEEPALIVE:
                    yield ": keepalive\n\n"
        yield sse("closing", {"stream": state.id, "reason": "server shutting down"})
    finally:
        hub.close(state)


def _expiry(hub: InboxHub, state: StreamState, warned: bool) -> tuple[str | None, bool, float]:
    """What the token's expiry asks of the stream now: an event to send (or None), whether
    the client has been warned, and how many real seconds to wait at most."""
    clock = hub.app.clock
    left_engine = state.expires_at - clock.now()
    if left_engine <= timedelta(0):
        return sse("token-expired", {"stream": state.id}), warned, 0.0
    left = real_seconds(clock, left_engine)
    warning = hub.expiry_warning.total_seconds()
    event = None
    if left <= warning and not warned:
        event = sse("token-expiring", {"stream": state.id, "expires_in": round(left, 1)})
        warned = True
    elif left > warning:
        warned = False  # refreshed
    return event, warned, min(KEEPALIVE, left if warned else left - warning)


WITH_ITEM = frozenset({"created", "unarchived", "unsnoozed", "unread"})
"""Changes that may bring an item into a view the client has not loaded: they carry it."""


async def _render(app: Tidings, recipient: str, changes: list[Any]) -> list[str]:
    wanted = sorted({c.item_id for c in changes if c.kind in WITH_ITEM})
    items = {}
    if wanted:
        found = await asyncio.to_thread(app.store.inbox.items, recipient, wanted)
        shown = await asyncio.to_thread(items_out, app, list(found))
        items = {i.id: i.model_dump(mode="json") for i in shown}
    counts = (await app.inbox.counts_async(recipient)).to_json()
    out = []
    for c in changes:
        data: dict[str, Any] = {
            "seq": c.seq,
            "kind": c.kind,
            "item_id": c.item_id,
            "at": c.at.isoformat(),
        }
        if c.kind in WITH_ITEM:
            data["item"] = items.get(c.item_id)
        data["unread_count"] = counts["unread"]
        data["counts"] = counts
        out.append(sse(c.kind, data, c.seq))
    return out
