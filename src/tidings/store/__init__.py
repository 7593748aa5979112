"""Persistence: one :class:`Store` per database, composed of one object per concept.

The interfaces live in a module per concept (``runs``, ``events``, ``schedules``,
``recipients``, ``notifications``, ``inbox``, ``receipts``, ``budgets``, ``keys``, ``ops``,
``dashboard``); ``db/`` implements each once over a backend's database object
(``sqlite/``, ``postgres/``).
"""

from __future__ import annotations

from tidings.errors import ConfigError
from tidings.store.base import Store
from tidings.store.urls import redact_url


def open_store(url: str) -> Store:
    """Open the store a database URL names (``sqlite:///...`` or ``postgresql://...``)."""
    if url.startswith("sqlite:"):
        from tidings.store.sqlite.store import SqliteStore

        return SqliteStore(url)
    if url.startswith(("postgresql://", "postgres://")):
        from tidings.store.postgres.store import PostgresStore

        return PostgresStore(url)
    scheme = url.split(":", 1)[0] if ":" in url else url
    raise ConfigError(
        f"unsupported database URL scheme {scheme!r} in {redact_url(url)!r}: "
        "use sqlite:///path.db or postgresql://user@host:5432/db?schema=tidings"
    )


__all__ = ["Store", "open_store", "redact_url"]
