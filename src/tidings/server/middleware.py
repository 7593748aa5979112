"""ASGI middleware: the request body limit, HTTP metrics and an access log without keys."""

from __future__ import annotations

import logging
import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tidings.server.errors import error_response, route_of

log = logging.getLogger("tidings.server.access")


class BodyLimit:
    """Answers 413 to a body over ``limit`` bytes, by Content-Length or as it streams.

    A body without Content-Length (chunked) is read here first, at most ``limit`` bytes
    of it, then handed on: the app's body parser would turn an error raised while it
    reads into a 400.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if length is not None:
            declared = int(length) if length.isdigit() else -1
            if declared < 0:
                await error_response(400, "invalid Content-Length")(scope, receive, send)
            elif declared > self.limit:
                await self._too_large(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        seen = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            seen += len(message.get("body", b""))
            if seen > self.limit:
                await self._too_large(scope, receive, send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413, f"request body over {self.limit:,} bytes", details={"limit_bytes": self.limit}
        )
        await response(scope, receive, send)


class HttpMetrics:
    """Counts requests by route template, method and status; logs one line each."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter(
            "tidings_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=registry,
        )
        self.seconds = Histogram(
            "tidings_http_request_duration_seconds",
            "Time to answer HTTP requests, by route template.",
            ["route"],
            registry=registry,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = route_of(scope)
            elapsed = time.perf_counter() - started
            self.requests.labels(route, scope["method"], str(status)).inc()
            self.seconds.labels(route).observe(elapsed)
            log.info("%s %s %d %.1fms", scope["method"], route, status, elapsed * 1000)
