"""Persistence backends behind one :class:`Store` interface."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from tidings.errors import ConfigError
from tidings.store.base import Store


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


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***``, fit for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


__all__ = ["Store", "open_store", "redact_url"]
