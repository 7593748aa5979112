"""A real HTTP server for tests: uvicorn on a loopback port, in a thread."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import uvicorn

from tidings import Context, Tidings
from tidings.keys import create_key
from tidings.server import ServerSettings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _ThreadServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the test process keeps its own signal handlers


@contextlib.contextmanager
def serving(app: Tidings, settings: ServerSettings | None = None) -> Iterator[str]:
    """Serve ``app``'s API on 127.0.0.1; yields the base URL."""
    port = free_port()
    config = uvicorn.Config(
        app.asgi(settings or ServerSettings()),
        host="127.0.0.1",
        port=port,
        access_log=False,
        log_level="warning",
        lifespan="off",
    )
    server = _ThreadServer(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive(), "the test server died while starting"
        assert time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)


def new_key(app: Tidings, scope: str = "admin", env: str | None = None) -> str:
    """A fresh key; ``env`` other than the app's is written into the same database."""
    return create_key(
        app.store, env or app.environment, name=f"test-{scope}", scope=scope, now=app.clock.now()
    ).secret


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def add_tasks(app: Tidings) -> None:
    """The tasks the server tests use."""

    @app.task(on_event="user.registered")
    async def welcome(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
        await ctx.step("greet", lambda: f"hi {payload.get('name')}")
        return {"welcomed": payload.get("userId")}

    @app.task
    async def slow(ctx: Context, payload: Any) -> None:
        await ctx.sleep(3600)


async def wait_until(predicate: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(predicate):
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def client(base: str, key: str | None = None) -> httpx.Client:
    return httpx.Client(base_url=base, headers=auth(key) if key else {}, timeout=30)
