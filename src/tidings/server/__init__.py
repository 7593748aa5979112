"""The HTTP API: ``create_app(app)`` (or ``app.asgi()``) for any ASGI server."""

from __future__ import annotations

from tidings.server.app import create_app
from tidings.settings import ServerSettings

__all__ = ["ServerSettings", "create_app"]
