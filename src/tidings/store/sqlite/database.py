"""SQLite database object: one WAL-mode connection per store, write transactions BEGIN IMMEDIATE.

Several worker processes may share one file: WAL lets readers run beside the single
writer, ``BEGIN IMMEDIATE`` takes the write lock up front so two writers never deadlock
upgrading a read lock, and ``busy_timeout`` makes a writer wait its turn instead of
failing. Within a process a lock serialises use of the connection.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tidings.errors import StoreError
from tidings.store.db.database import Database, Row, unencodable_text
from tidings.store.queries import load_all_queries, load_migrations
from tidings.store.upgrade import Applied, MigrationCompatibility
from tidings.store.urls import path_from_url

_PACKAGE = "tidings.store.sqlite"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_DT = datetime.min.replace(tzinfo=UTC)
BUSY_TIMEOUT_MS = 60_000


class _SqliteTx:
    def __init__(self, conn: sqlite3.Connection, queries: dict[str, str]) -> None:
        self._cur = conn.cursor()
        self._queries = queries
        self._rowcount = 0

    def run(self, query: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        try:
            self._cur.execute(self._queries[query], params or {})
            rows: list[Row] = self._cur.fetchall()
        except sqlite3.Error as exc:  # as psycopg.Error on PostgreSQL: a StoreError
            raise StoreError(f"query {query!r} failed: {exc}") from exc
        except UnicodeEncodeError as exc:  # a lone surrogate: refused before it was sent
            raise unencodable_text(exc, params) from exc
        self._rowcount = self._cur.rowcount
        return rows

    def rowcount(self) -> int:
        return self._rowcount


def _retry_locked(action: Callable[[], object]) -> None:
    """Run ``action``, waiting out 'database is locked' (busy_timeout does not cover it).

    Switching a new file to WAL needs an exclusive lock for a moment, and SQLite
    reports a concurrent opener's lock at once instead of calling the busy handler.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    delay = 0.005
    while True:
        try:
            action()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


class SqliteDatabase(MigrationCompatibility, Database):
    """One SQLite file: its connection, transactions and conversions."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = path_from_url(url)
        self.queries = load_all_queries(_PACKAGE)
        self._migrations = load_migrations(_PACKAGE)
        self._load_compatibility()
        self._lock = threading.RLock()
        self._conn = self._connect()

    # -- connection --------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        memory = self.path == ":memory:"
        if not memory:
            self._check_file(Path(self.path))
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=60
            )
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if not memory:
                _retry_locked(lambda: conn.execute("PRAGMA journal_mode = WAL"))
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("SELECT name FROM sqlite_master LIMIT 1").fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"{self.path} is not a usable SQLite database ({exc}); "
                "tidings will not write to it. Point database_url at another file."
            ) from None
        return conn

    @staticmethod
    def _check_file(path: Path) -> None:
        if not path.exists() or path.stat().st_size == 0:
            return
        with path.open("rb") as f:
            header = f.read(16)
        if header != b"SQLite format 3\x00":
            raise StoreError(
                f"{path} is not a SQLite database (it may be corrupt or another kind of file); "
                "tidings will not overwrite it. Point database_url at another file."
            )

    def change_marker(self) -> int | None:
        with self._lock:
            return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def transaction(self, *, write: bool) -> Iterator[_SqliteTx]:
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"cannot use {self.path}: {exc}") from None
            try:
                yield _SqliteTx(self._conn, self.queries)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")

    # -- conversions -------------------------------------------------------------------
    def ts(self, value: datetime | None) -> Any:
        if value is None:
            return None
        delta = value - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds

    def dt(self, value: Any) -> datetime | None:
        if value is None:
            return None
        try:
            return datetime.fromtimestamp(int(value) / 1_000_000, UTC)
        except (OverflowError, ValueError, OSError):
            # A time outside years 1-9999, written before tidings refused them at the
            # door: shown as the nearest time Python can hold, so the row stays readable.
            return datetime.max.replace(tzinfo=UTC) if int(value) > 0 else _MIN_DT

    def array(self, values: Sequence[str] | None) -> Any:
        return None if values is None else json.dumps(list(values))

    def json_path(self, parts: Sequence[str]) -> Any:
        # json_extract's path: quoted keys, [n] for a list index
        return "$" + "".join(f"[{p}]" if p.isdigit() else f'."{p}"' for p in parts)

    # -- migrations --------------------------------------------------------------------
    def _applied(self) -> Applied | None:
        """Applied migrations and their recorded compatibility; None when the file holds
        someone else's tables."""
        tables = {
            r[0]
            for r in self._conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        }
        if "tidings_migrations" not in tables:
            return {} if not tables else None
        columns = {r[0] for r in self._conn.execute(self.queries["migrations_columns"])}
        if "compatible" not in columns:  # migrated by a release before 0014
            return {r[0]: None for r in self._conn.execute("SELECT name FROM tidings_migrations")}
        rows = self._conn.execute(self.queries["migrations_applied"])
        return {r[0]: None if r[1] is None else bool(r[1]) for r in rows}

    def _check_applied(self) -> Applied:
        applied = self._applied()
        if applied is None:
            raise StoreError(
                f"{self.path} holds tables that are not tidings' and no tidings schema; "
                "tidings will not touch it. Point database_url at another file."
            )
        self._accept_unknown(applied, self.path)
        return applied

    def pending_migrations(self) -> list[str]:
        with self._lock:
            applied = self._check_applied()
        return [name for name, _ in self._migrations if name not in applied]

    def migrate(self) -> list[str]:
        done: list[str] = []
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")  # serialises concurrent starters
            try:
                applied = self._check_applied()
                if set(applied) - set(self._compatible):
                    # a newer release migrated it (compatibly): nothing here to apply or mark
                    self._conn.execute("ROLLBACK")
                    return done
                for name, script in self._migrations:
                    if name in applied:
                        continue
                    for statement in iter_statements(script):
                        self._conn.execute(statement)
                    self._conn.execute(
                        "INSERT INTO tidings_migrations (name, applied_at) VALUES (?, ?)",
                        (name, self.ts(datetime.now(UTC))),
                    )
                    done.append(name)
                for mark in self._compatibility_marks(applied, done):
                    self._conn.execute(self.queries["mark_migration_compatible"], mark)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        return done

    def schema_sql(self) -> list[str]:
        """The live schema, described for the migration test.

        Tables by their columns (ALTER TABLE rewrites a table's stored SQL text, so
        text cannot be compared), indexes and triggers by their normalised SQL.
        """
        with self._lock:
            return describe_schema(self._conn)


def describe_schema(conn: sqlite3.Connection) -> list[str]:
    out: list[str] = []
    tables = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name"
    ).fetchall()
    for (table,) in tables:
        for col in conn.execute(f"PRAGMA table_info({table})").fetchall():
            _cid, name, type_, notnull, default, pk = tuple(col)
            out.append(f"{table}.{name} {type_} notnull={notnull} default={default} pk={pk}")
        for fk in conn.execute(f"PRAGMA foreign_key_list({table})").fetchall():
            out.append(f"{table} fk {tuple(fk)[2:]}")
        create = conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()[0]
        out.extend(f"{table} check {c}" for c in _checks(str(create)))
    rows = conn.execute(
        "SELECT sql FROM sqlite_master WHERE type IN ('index', 'trigger') AND sql IS NOT NULL "
        "ORDER BY type, name"
    ).fetchall()
    out.extend(" ".join(str(r[0]).split()) for r in rows)
    return out


def _checks(create: str) -> list[str]:
    """CHECK constraints of a CREATE TABLE statement, whitespace-normalised."""
    text = " ".join(create.split())
    found, start = [], text.find("CHECK (")
    while start != -1:
        depth, i = 0, start + len("CHECK ")
        for i in range(start + len("CHECK "), len(text)):
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            if depth == 0:
                break
        found.append(text[start : i + 1])
        start = text.find("CHECK (", i)
    return found


def iter_statements(script: str) -> Iterator[str]:
    """Split a migration script into complete statements (no naive ';' splitting)."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        if not buffer and (not line.strip() or line.lstrip().startswith("--")):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            yield buffer.strip()
            buffer = ""
    if buffer.strip():
        raise StoreError(f"incomplete SQL statement at end of migration: {buffer.strip()[:80]}")
