"""Creating and dropping whole databases of preview environments.

Kept in the store package because it speaks SQL (``DROP SCHEMA``) and knows where
SQLite keeps its files.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
from psycopg import sql

from tidings.errors import StoreError
from tidings.store.urls import redact_url


def database_exists(url: str) -> bool:
    """Whether the SQLite file or the PostgreSQL schema ``url`` names exists."""
    if url.startswith("sqlite:"):
        from tidings.store.urls import path_from_url

        path = path_from_url(url)
        return path == ":memory:" or Path(path).exists()
    from tidings.store.postgres.database import parse_url

    conninfo, schema = parse_url(url)
    with _connect(conninfo, url) as conn:
        rows = conn.execute(
            "SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", [schema]
        ).fetchall()
    return bool(rows)


def drop_database(url: str) -> bool:
    """Delete the SQLite file (and its WAL files) or drop the PostgreSQL schema.

    Returns False if there was nothing to drop.
    """
    if url.startswith("sqlite:"):
        from tidings.store.urls import path_from_url

        path = path_from_url(url)
        if path == ":memory:":
            return False
        found = False
        for suffix in ("", "-wal", "-shm"):
            candidate = Path(path + suffix)
            if candidate.exists():
                candidate.unlink()
                found = True
        return found
    from tidings.store.postgres.database import parse_url

    conninfo, schema = parse_url(url)
    existed = database_exists(url)
    with _connect(conninfo, url) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    return existed


def _connect(conninfo: str, url: str) -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(conninfo, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        raise StoreError(f"cannot connect to {redact_url(url)}: {exc}") from None
