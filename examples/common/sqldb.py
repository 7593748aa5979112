"""A small database handle for the example apps' own tables (SQLite or PostgreSQL).

The examples stand in for a real product backend, which keeps its data in its own
database with its own access layer. This module is that access layer, kept tiny: one
connection per handle guarded by a lock (task steps call it from worker threads), SQL
written once with ``:name`` parameters, tables created on first use. It is not part of
tidings and tidings never sees these tables.

URLs: ``sqlite:///path.db``, ``sqlite:///:memory:``, or
``postgresql://user@host:5432/db?schema=NAME`` (the tables live in schema NAME, created
if missing; default ``public``).
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
import psycopg.rows
import psycopg.sql

Row = dict[str, Any]
Params = Mapping[str, Any] | None

_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_SCHEMA = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def to_epoch(when: datetime) -> float:
    """Timestamps are stored as UTC epoch seconds: portable and ordered on both databases."""
    if when.tzinfo is None:
        raise ValueError(f"naive datetime {when.isoformat()}: give it a timezone")
    return when.timestamp()


def from_epoch(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


class Database:
    """One connection to the app's own database, shared by threads under a lock."""

    def __init__(self, url: str, schema_sql: str) -> None:
        self.url = url
        self._schema_sql = schema_sql
        self._lock = threading.RLock()
        self._sqlite: sqlite3.Connection | None = None
        self._pg: psycopg.Connection[Row] | None = None
        self._pg_schema = "public"
        self._in_tx = False
        if url.startswith("sqlite:///"):
            self.dialect = "sqlite"
        elif url.startswith(("postgresql://", "postgres://")):
            self.dialect = "postgres"
        else:
            raise ValueError(
                f"unsupported database URL {url!r}: use sqlite:///path.db or postgresql://..."
            )

    # -- connection ------------------------------------------------------------------
    def _connect(self) -> None:
        if self._sqlite is not None or self._pg is not None:
            return
        if self.dialect == "sqlite":
            path = self.url.removeprefix("sqlite:///")
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA busy_timeout = 5000")
            conn.executescript(self._schema_sql)
            self._sqlite = conn
            return
        conninfo, schema = _split_schema(self.url)
        pg = psycopg.connect(conninfo, autocommit=True, row_factory=psycopg.rows.dict_row)
        pg.execute(
            psycopg.sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(psycopg.sql.Identifier(schema))
        )
        pg.execute(psycopg.sql.SQL("SET search_path TO {}").format(psycopg.sql.Identifier(schema)))
        pg.execute(self._schema_sql.encode())
        self._pg, self._pg_schema = pg, schema

    def close(self) -> None:
        with self._lock:
            if self._sqlite is not None:
                self._sqlite.close()
                self._sqlite = None
            if self._pg is not None:
                self._pg.close()
                self._pg = None

    # -- statements ------------------------------------------------------------------
    def query(self, sql: str, params: Params = None) -> list[Row]:
        """Rows as dicts."""
        with self._lock:
            self._connect()
            if self._sqlite is not None:
                return [dict(r) for r in self._sqlite.execute(sql, dict(params or {}))]
            assert self._pg is not None
            cur = self._pg.execute(_pg_sql(sql), dict(params or {}))
            return list(cur.fetchall()) if cur.description else []

    def one(self, sql: str, params: Params = None) -> Row | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def execute(self, sql: str, params: Params = None) -> int:
        """Run a statement; return the number of rows it changed."""
        with self._lock:
            self._connect()
            if self._sqlite is not None:
                return self._sqlite.execute(sql, dict(params or {})).rowcount
            assert self._pg is not None
            return self._pg.execute(_pg_sql(sql), dict(params or {})).rowcount

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """Statements inside commit together or not at all (nesting joins the outer one)."""
        with self._lock:
            self._connect()
            if self._in_tx:
                yield self
                return
            self._in_tx = True
            try:
                if self._sqlite is not None:
                    self._sqlite.execute("BEGIN IMMEDIATE")
                    try:
                        yield self
                    except BaseException:
                        self._sqlite.execute("ROLLBACK")
                        raise
                    self._sqlite.execute("COMMIT")
                else:
                    assert self._pg is not None
                    with self._pg.transaction():
                        yield self
            finally:
                self._in_tx = False


def _pg_sql(sql: str) -> bytes:
    return _NAMED.sub(r"%(\1)s", sql).encode()


def _split_schema(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [v for k, v in query if k == "schema"]
    schema = schemas[-1] if schemas else "public"
    if not _SCHEMA.match(schema):
        raise ValueError(f"schema {schema!r} is not a usable schema name")
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    return urlunsplit(parts._replace(query=rest)), schema
