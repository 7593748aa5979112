"""Persistence backends behind one :class:`Store` interface."""

from __future__ import annotations

from tidings.errors import ConfigError
from tidings.store.base import Store


def open_store(url: str) -> Store:
    """Open the store a database URL names (``sqlite:///...``; PostgreSQL comes later)."""
    if url.startswith("sqlite:"):
        from tidings.store.sqlite.store import SqliteStore

        return SqliteStore(url)
    scheme = url.split(":", 1)[0] if ":" in url else url
    raise ConfigError(
        f"unsupported database URL scheme {scheme!r} in {url!r}: use sqlite:///path.db"
    )


__all__ = ["Store", "open_store"]
