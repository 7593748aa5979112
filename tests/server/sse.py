"""A small Server-Sent Events reader over httpx, for the stream tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class Event:
    event: str
    data: Any
    id: str | None


class EventStream:
    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def next(self, timeout: float = 10) -> Event:
        return await asyncio.wait_for(self._next(), timeout)

    async def _next(self) -> Event:
        event, event_id = "message", None
        data: list[str] = []
        async for line in self._lines:
            if line == "":
                if data:
                    return Event(event, json.loads("\n".join(data)), event_id)
                event, event_id = "message", None
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
            elif name == "id":
                event_id = value
        raise EOFError("the stream ended")

    async def until(self, kind: str, timeout: float = 10) -> Event:
        while True:
            got = await self.next(timeout)
            if got.event == kind:
                return got


@asynccontextmanager
async def open_stream(
    base: str, token: str, last_event_id: str | None = None
) -> AsyncIterator[EventStream]:
    headers = {"Authorization": f"Bearer {token}"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    async with (
        httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(30, read=60)) as client,
        client.stream("GET", "/api/v1/inbox/stream", headers=headers) as response,
    ):
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield EventStream(response)
