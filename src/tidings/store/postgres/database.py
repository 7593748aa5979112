"""PostgreSQL database object: psycopg 3 connection pools, one schema per store, LISTEN/NOTIFY.

All tables live in one schema (``?schema=NAME``, default ``tidings``) so several
environments can share a cluster; every pooled connection starts with that schema as
its ``search_path``. Claims lock rows with ``FOR UPDATE SKIP LOCKED``, so write
transactions need nothing like SQLite's ``BEGIN IMMEDIATE``. Migrations run under a
transaction-scoped advisory lock derived from the schema name, so concurrent starters
apply each migration once.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from psycopg.types.datetime import TimestamptzLoader
from psycopg_pool import ConnectionPool

from tidings.clock import DatabaseClock
from tidings.errors import StoreError, UnstorableTextError
from tidings.store.db.database import Database, Row, Tx, unencodable_text
from tidings.store.postgres.dbtime import TimeKeeper
from tidings.store.postgres.listen import InboxListener, WakeListener
from tidings.store.queries import load_all_queries, load_migrations
from tidings.store.upgrade import Applied, MigrationCompatibility
from tidings.store.urls import redact_url

log = logging.getLogger("tidings.store.postgres")

_PACKAGE = "tidings.store.postgres"
DEFAULT_SCHEMA = "tidings"
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,57}$")  # leaves room for "_wake" in 63
CONNECT_TIMEOUT = 10
POOL_MIN, POOL_MAX = 1, 10
CLAIM_POOL_MAX = 2
_CLAIM_SETTINGS = (
    "-c enable_seqscan=off -c enable_bitmapscan=off -c enable_sort=off -c synchronous_commit=off"
)
_TCP_SETTINGS = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,  # ms unacknowledged before the connection is dropped
}
_LISTEN_POLL = 0.2  # seconds; how often the listener looks at its stop flag


# Sent unprepared: psycopg prepares a statement after a few executions, and PostgreSQL
# then switches it to a generic plan, which for these (ORDER BY ... LIMIT over "due_at <=
# $n") reads and sorts every due row instead of walking runs_claim (see runs.sql).
_UNPREPARED = frozenset({"claim_due", "claim_due_in_queues", "claim_runs_flow", "next_due"})


def _returns_rows(query: str) -> bool:
    lines = query.strip().splitlines()
    while lines and lines[0].lstrip().startswith("--"):  # a query's leading comment
        lines.pop(0)
    text = "\n".join(lines).lstrip().upper()
    return text.startswith(("SELECT", "WITH")) or "RETURNING" in text


def _nul_field(params: Mapping[str, Any] | None) -> str | None:
    """The first parameter holding text with a NUL character, if any."""
    for name, value in (params or {}).items():
        values = value if isinstance(value, list | tuple) else (value,)
        if any(isinstance(v, str) and "\x00" in v for v in values):
            return name
    return None


class PgTx:
    """A transaction's cursor. Pipelined (``pipeline`` given), statements are sent
    without waiting: only one whose rows are read, or a :meth:`rowcount`, waits for the
    server, so a transaction of statements that return nothing is one round trip."""

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        queries: dict[str, str],
        pipeline: psycopg.Pipeline | None = None,
    ) -> None:
        self._cur = conn.cursor(row_factory=dict_row)
        self._queries = queries
        self._rowcount = 0
        self._pipeline = pipeline

    def run(self, query: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        text = self._queries[query]
        prepare = False if query in _UNPREPARED else None
        try:
            self._cur.execute(text, params or None, prepare=prepare)
            rows: list[Row] = []
            if self._pipeline is None:
                rows = list(self._cur.fetchall()) if self._cur.description else []
            elif _returns_rows(text):  # reading them waits for the server
                rows = list(self._cur.fetchall())
            else:
                return []  # not waited for: an error surfaces at the next sync
        except psycopg.DataError as exc:
            if (field := _nul_field(params)) is not None:  # refused before it was sent
                raise UnstorableTextError(
                    f"{field} contains a NUL character (\\u0000), which PostgreSQL text cannot hold"
                ) from exc
            raise StoreError(f"query {query!r} failed: {exc}") from exc
        except psycopg.Error as exc:
            raise StoreError(f"query {query!r} failed: {exc}") from exc
        except UnicodeEncodeError as exc:  # a lone surrogate: refused before it was sent
            raise unencodable_text(exc, params) from exc
        self._rowcount = self._cur.rowcount
        return rows

    def rowcount(self) -> int:
        if self._pipeline is not None:
            try:
                self._pipeline.sync()
            except psycopg.Error as exc:
                raise StoreError(f"PostgreSQL: {exc}") from exc
            self._rowcount = self._cur.rowcount
        return self._rowcount

    def run_after(
        self, first: str, first_params: Mapping[str, Any], query: str, params: Mapping[str, Any]
    ) -> list[Row]:
        """Run ``first`` then ``query`` in one round trip (a pipeline); ``query``'s rows."""
        conn = self._cur.connection
        try:
            with conn.pipeline() as pipeline:
                conn.execute(self._queries[first], first_params)
                self._cur.execute(self._queries[query], params)
                pipeline.sync()
            rows: list[Row] = list(self._cur.fetchall())
        except psycopg.Error as exc:
            raise StoreError(f"query {query!r} failed: {exc}") from exc
        except UnicodeEncodeError as exc:  # a lone surrogate: refused before it was sent
            raise unencodable_text(exc, params) from exc
        self._rowcount = self._cur.rowcount
        return rows


def parse_url(url: str) -> tuple[str, str]:
    """``postgresql://...?schema=NAME`` -> (libpq URL without ``schema``, schema)."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise StoreError(f"not a PostgreSQL URL: {redact_url(url)!r}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [v for k, v in query if k == "schema"]
    schema = schemas[-1] if schemas else DEFAULT_SCHEMA
    if not _SCHEMA_NAME.match(schema):
        raise StoreError(
            f"schema {schema!r} in {redact_url(url)!r} is not a usable schema name: use "
            "lowercase letters, digits and '_' (at most 58 characters, not starting with a digit)"
        )
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    return urlunsplit(parts._replace(query=rest)), schema


def lock_key(schema: str, purpose: str = "migrate") -> int:
    """A signed 64-bit advisory lock key for ``purpose`` (migrate, flow) in this schema."""
    digest = hashlib.blake2b(f"tidings-{purpose}:{schema}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class _TolerantTimestamptz(TimestamptzLoader):
    """A timestamptz outside years 1-9999, written before tidings refused them at the
    door, read as the nearest time Python can hold, so the row stays readable."""

    def load(self, data: Any) -> datetime:
        try:
            return super().load(data)
        except psycopg.DataError as exc:
            if "too small" in str(exc):
                return datetime.min.replace(tzinfo=UTC)
            return datetime.max.replace(tzinfo=UTC)


def tolerate_bad_times(conn: psycopg.Connection[Any]) -> None:
    conn.adapters.register_loader("timestamptz", _TolerantTimestamptz)


class PostgresDatabase(MigrationCompatibility, Database):
    """A PostgreSQL schema: connection pools, transactions, conversions, LISTEN."""

    concurrent_writers = True

    def __init__(self, url: str) -> None:
        self.url = url
        self.conninfo, self.schema = parse_url(url)
        self.channel = f"{self.schema}_wake"
        self.queries = load_all_queries(_PACKAGE)
        self._migrations = load_migrations(_PACKAGE)
        self._load_compatibility()
        self._kwargs: dict[str, Any] = {
            "connect_timeout": CONNECT_TIMEOUT,
            "options": f"-c search_path={self.schema}",
            "application_name": "tidings",
        }
        # A connection whose server vanished (a partition, a failed-over host) must fail
        # within seconds, not after the kernel's retransmissions give up (minutes), so a
        # worker reconnects and rejoins soon after the network heals. The URL may say
        # otherwise.
        given = conninfo_to_dict(self.conninfo)
        self._kwargs.update({k: v for k, v in _TCP_SETTINGS.items() if k not in given})
        # Connect once up front: an unreachable server or a bad password is reported
        # now, plainly, instead of as a pool timeout later.
        self._connect().close()
        self._pool: ConnectionPool = ConnectionPool(
            self.conninfo,
            min_size=POOL_MIN,
            max_size=POOL_MAX,
            kwargs={**self._kwargs, "autocommit": True},
            configure=tolerate_bad_times,
            open=True,
            name=f"tidings-{self.schema}",
        )
        # Claims and next_due run on connections of their own whose planner cannot take
        # a bitmap scan, a sequential scan or a sort where an index gives the order:
        # with statistics that lag a burst of triggers (a new table, a backlog grown
        # since the last autoanalyze) PostgreSQL would otherwise read and sort every
        # due row to take ten. A claim's commit does not wait for the WAL flush
        # (synchronous_commit=off): a claim lost in a server crash only hands its runs
        # back, and every write its attempts make is fenced by the lost lease token and
        # committed synchronously, which flushes the claim's WAL record before it. So
        # nothing an attempt records can outlive its claim, and a worker pays one flush
        # per cycle (its group commit), not two. Opened on first use: a process that
        # never claims (an API server) holds none.
        self._claim_pool: ConnectionPool = ConnectionPool(
            self.conninfo,
            min_size=0,
            max_size=CLAIM_POOL_MAX,
            kwargs={
                **self._kwargs,
                "autocommit": True,
                "options": f"{self._kwargs['options']} {_CLAIM_SETTINGS}",
            },
            configure=tolerate_bad_times,
            open=True,
            name=f"tidings-{self.schema}-claims",
        )
        self._listener: WakeListener | None = None
        self._listener_lock = threading.Lock()
        self._time = TimeKeeper(self._pool, self.queries["database_clock"], self._where())

    def _where(self) -> str:
        """``host:port/db`` for messages; every ``host:port`` of a multi-host URL."""
        parts = urlsplit(self.conninfo)
        hosts = parts.netloc.rpartition("@")[2] or "localhost"
        if "," not in hosts:
            hosts = f"{parts.hostname or 'localhost'}:{parts.port or 5432}"
        return f"{hosts}{parts.path or '/'}"

    def _connect(self, **extra: Any) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(self.conninfo, **self._kwargs, **extra)
        except psycopg.Error as exc:
            detail = " ".join(str(exc).split())
            raise StoreError(
                f"cannot connect to PostgreSQL at {self._where()}: {detail} "
                f"(database URL {redact_url(self.url)})"
            ) from None

    # -- connection --------------------------------------------------------------------
    def pipelined(self) -> AbstractContextManager[Tx]:
        return self.transaction(write=True, mode="pipeline")

    def autocommit(self, *, write: bool) -> AbstractContextManager[Tx]:
        return self.transaction(write=write, mode="autocommit")

    def claim_statements(self, *, write: bool) -> AbstractContextManager[Tx]:
        return self.transaction(write=write, mode="claim")

    @contextmanager
    def transaction(self, *, write: bool, mode: str = "transaction") -> Iterator[Tx]:
        """Pooled connections are in autocommit mode: a transaction is an explicit
        BEGIN ... COMMIT, and a lone statement (``mode="autocommit"``) commits by itself,
        in one round trip instead of three. ``mode="claim"``: autocommit on a claim
        connection (see ``_claim_pool``)."""
        pool = self._claim_pool if mode == "claim" else self._pool
        try:
            with pool.connection() as conn:
                if mode in ("autocommit", "claim"):
                    yield PgTx(conn, self.queries)
                elif mode == "pipeline":
                    # BEGIN, the statements and COMMIT go out together; the pipeline's
                    # exit waits for them all (and raises the first error).
                    with conn.pipeline() as pipe, conn.transaction():
                        yield PgTx(conn, self.queries, pipe)
                else:
                    with conn.transaction():
                        yield PgTx(conn, self.queries)
        except (psycopg.OperationalError, StoreError) as exc:
            # After a server restart every idle pooled connection is dead: drop them all
            # now rather than fail one call per stale connection.
            if isinstance(exc, psycopg.OperationalError) or isinstance(
                exc.__cause__, psycopg.OperationalError
            ):
                with contextlib.suppress(Exception):
                    pool.check()
            if isinstance(exc, StoreError):
                raise
            raise StoreError(f"PostgreSQL at {self._where()}: {exc}") from exc
        except psycopg.Error as exc:
            raise StoreError(f"PostgreSQL at {self._where()}: {exc}") from exc

    def keep_time(self, clock: DatabaseClock) -> None:
        self._time.add(clock)

    def close(self) -> None:
        self._time.stop()
        with self._listener_lock:
            listener, self._listener = self._listener, None
        if listener is not None:
            listener.stop()
        self._pool.close()
        self._claim_pool.close()

    def _listening(self) -> WakeListener:
        listener = self._listener
        if listener is None:
            with self._listener_lock:
                if self._listener is None:
                    self._listener = WakeListener(
                        self._listen_connection, self.channel, self.schema
                    )
                listener = self._listener
        return listener

    def change_marker(self) -> int | None:
        return self._listening().count

    def subscribe_wakeups(self, callback: Callable[[], None]) -> Callable[[], None] | None:
        listener = self._listening()
        listener.add(callback)
        return functools.partial(listener.discard, callback)

    def subscribe_inbox(self, callback: Callable[[str | None], None]) -> Callable[[], None] | None:
        return InboxListener(self._listen_connection, self.schema, callback).stop

    def _listen_connection(self) -> psycopg.Connection[Any]:
        return self._connect(autocommit=True)

    # -- conversions -------------------------------------------------------------------
    def ts(self, value: datetime | None) -> Any:
        return value

    def dt(self, value: Any) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise StoreError(f"expected a timestamptz, got {value!r}")
        return value.astimezone(UTC)

    def array(self, values: Sequence[str] | None) -> Any:
        return None if values is None else list(values)

    def json_path(self, parts: Sequence[str]) -> Any:
        return list(parts)  # the text[] of #>>, which indexes a list by a part of digits

    # -- migrations --------------------------------------------------------------------
    def _applied(self, conn: psycopg.Connection[Any]) -> Applied | None:
        """Applied migrations and their recorded compatibility; None when the schema holds
        someone else's tables."""
        tables = {
            str(r[0])
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                [self.schema],
            )
        }
        if "tidings_migrations" not in tables:
            return {} if not tables else None
        columns = {
            str(r[0])
            for r in conn.execute(self.queries["migrations_columns"], {"schema": self.schema})
        }
        if "compatible" not in columns:  # migrated by a release before 0014
            return {str(r[0]): None for r in conn.execute("SELECT name FROM tidings_migrations")}
        rows = conn.execute(self.queries["migrations_applied"])
        return {str(r[0]): None if r[1] is None else bool(r[1]) for r in rows}

    def _check_applied(self, conn: psycopg.Connection[Any]) -> Applied:
        applied = self._applied(conn)
        if applied is None:
            raise StoreError(
                f"schema {self.schema!r} at {self._where()} holds tables that are not "
                "tidings' and no tidings schema; tidings will not touch it. "
                "Choose another schema with ?schema=NAME in the database URL."
            )
        self._accept_unknown(applied, f"schema {self.schema!r} at {self._where()}")
        return applied

    def pending_migrations(self) -> list[str]:
        try:
            with self._pool.connection() as conn, conn.transaction():
                applied = self._check_applied(conn)
        except psycopg.Error as exc:
            raise StoreError(f"PostgreSQL at {self._where()}: {exc}") from exc
        return [name for name, _ in self._migrations if name not in applied]

    def migrate(self) -> list[str]:
        done: list[str] = []
        try:
            with self._pool.connection() as conn, conn.transaction():
                # The lock comes first: CREATE SCHEMA IF NOT EXISTS itself races.
                conn.execute("SELECT pg_advisory_xact_lock(%s)", [lock_key(self.schema)])
                conn.execute(
                    sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema))
                )
                applied = self._check_applied(conn)
                if set(applied) - set(self._compatible):
                    # a newer release migrated it (compatibly): nothing here to apply or mark
                    return done
                for name, script in self._migrations:
                    if name in applied:
                        continue
                    conn.execute(script.encode())  # no parameters: a multi-statement script
                    conn.execute(
                        "INSERT INTO tidings_migrations (name, applied_at) VALUES (%s, now())",
                        [name],
                    )
                    done.append(name)
                for mark in self._compatibility_marks(applied, done):
                    conn.execute(self.queries["mark_migration_compatible"], mark)
        except psycopg.Error as exc:
            raise StoreError(f"migrating schema {self.schema!r} at {self._where()}: {exc}") from exc
        return done
