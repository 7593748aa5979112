"""Database URLs: shown in messages and logs without their password; SQLite paths."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from tidings.errors import StoreError


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***``, fit for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def path_from_url(url: str) -> str:
    """``sqlite:///rel.db`` -> ``rel.db``; ``sqlite:////abs.db`` -> ``/abs.db``."""
    if not url.startswith("sqlite://"):
        raise StoreError(f"not a SQLite URL: {url!r}")
    rest = url[len("sqlite://") :]
    if not rest.startswith("/") or rest == "/":
        raise StoreError(
            f"SQLite URL {url!r} has no path: use sqlite:///relative.db, "
            "sqlite:////absolute.db or sqlite:///:memory:"
        )
    return rest[1:]
