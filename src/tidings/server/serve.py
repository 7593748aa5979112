"""Running the HTTP API under uvicorn: for ``tidings serve``, beside the worker in
``tidings dev``, and in the demo.

:class:`SignalServer` stops gracefully on SIGTERM or Ctrl-C and exits 0;
:class:`QuietServer` installs no signal handlers, for a caller that decides when it stops.
Both tell open inbox streams to close as soon as shutdown begins.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING

import uvicorn

from tidings.settings import server_settings

if TYPE_CHECKING:
    from tidings.app import Tidings
    from tidings.server.realtime import InboxHub

# paths may hold keys (/e/{key}); our own log shows route templates
logging.getLogger("uvicorn.access").disabled = True


def _split(value: str | None) -> list[str] | None:
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]


class TidingsServer(uvicorn.Server):
    """uvicorn that tells open inbox streams to close as soon as it starts shutting down,
    so they do not hold the exit up until ``timeout_graceful_shutdown`` cuts them."""

    def __init__(self, config: uvicorn.Config, hub: InboxHub | None = None) -> None:
        super().__init__(config)
        self.hub = hub

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.hub is not None:
            self.hub.close_all()
        await super().shutdown(sockets)
        if self.hub is not None:
            self.hub.stop()


class QuietServer(TidingsServer):
    """uvicorn without its own signal handlers: the caller decides when it stops."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class SignalServer(TidingsServer):
    """uvicorn that exits 0 after a graceful stop on SIGTERM or Ctrl-C (uvicorn itself
    re-raises the signal once it has shut down, so the process would die of it)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        handled = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def make_server(
    app: Tidings, host: str, port: int, *, own_signals: bool, dashboard_envs: str | None = None
) -> uvicorn.Server:
    """uvicorn serving the app (lifespan off: call :func:`close_server` after it stops)."""
    asgi = app.asgi(server_settings(app.environment), dashboard_envs=_split(dashboard_envs))
    config = uvicorn.Config(
        asgi,
        host=host,
        port=port,
        access_log=False,  # paths may hold keys (/e/{key}); our own log shows route templates
        log_level="info",
        lifespan="off",
        # open inbox streams are told to close at once (see TidingsServer); whatever
        # else is still running after this many seconds is cut
        timeout_graceful_shutdown=5,
    )
    hub = getattr(asgi.state, "inbox_hub", None)
    return SignalServer(config, hub) if own_signals else QuietServer(config, hub)


def close_server(server: uvicorn.Server) -> None:
    """Close what the app opened besides its own store (other environments' dashboards)."""
    dashboards = getattr(getattr(server.config.app, "state", None), "dashboards", None)
    if dashboards is not None:
        dashboards.close()


async def serve_beside(
    app: Tidings,
    host: str,
    port: int,
    stopping: asyncio.Future[None],
    *,
    dashboard_envs: str | None = None,
) -> None:
    """Serve the API until ``stopping`` is done (``tidings dev``: beside the worker)."""
    server = make_server(app, host, port, own_signals=False, dashboard_envs=dashboard_envs)
    serving = asyncio.create_task(server.serve())
    try:
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        server.should_exit = True
        try:
            await serving
        finally:
            close_server(server)


__all__ = [
    "QuietServer",
    "SignalServer",
    "TidingsServer",
    "close_server",
    "make_server",
    "serve_beside",
]
