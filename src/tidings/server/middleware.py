"""ASGI middleware: the request body limit, HTTP metrics and an access log without keys."""

from __future__ import annotations

import logging
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tidings.server.errors import ApiError, error_response

log = logging.getLogger("tidings.server.access")


class BodyLimit:
    """Answers 413 to a body over ``limit`` bytes, by Content-Length or as it streams."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > self.limit or declared < 0:
                    response = error_response(
                        413 if declared > self.limit else 400,
                        f"request body over {self.limit:,} bytes"
                        if declared > self.limit
                        else "invalid Content-Length",
                        details={"limit_bytes": self.limit},
                    )
                    await response(scope, receive, send)
                    return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise ApiError(
                        413,
                        f"request body over {self.limit:,} bytes",
                        details={"limit_bytes": self.limit},
                    )
            return message

        await self.app(scope, limited, send)


def route_of(scope: Scope) -> str:
    """The matched route's template (``/api/v1/runs/{run_id}``), never the raw path:
    paths may hold keys (``/e/{key}``) and ids without bound."""
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


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
