"""The PostgreSQL store's schema, migrations, connection errors, wake-ups and claiming."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from datetime import UTC, timedelta
from importlib import resources
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.conftest import START, postgres_admin
from tidings import Context, Tidings
from tidings.errors import ConfigError, StoreError, UnstorableTextError, ValidationError
from tidings.store import open_store
from tidings.store.postgres.database import parse_url
from tidings.store.postgres.store import PostgresStore
from tidings.store.queries import load_migrations
from tidings.store.runs import NewRun

PgSchema = tuple[str, str]

# What "the same schema" means: columns, constraints, indexes, triggers and functions,
# with the schema's own name taken out of the definitions.
_CATALOG = {
    "columns": """
        SELECT table_name, column_name, ordinal_position, data_type, is_nullable,
               column_default, is_identity, identity_generation
        FROM information_schema.columns WHERE table_schema = %(s)s
        ORDER BY table_name, ordinal_position""",
    "constraints": """
        SELECT t.relname, c.conname, c.contype, pg_get_constraintdef(c.oid)
        FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE n.nspname = %(s)s ORDER BY 1, 2""",
    "indexes": """
        SELECT tablename, indexname, indexdef FROM pg_indexes
        WHERE schemaname = %(s)s ORDER BY 1, 2""",
    "triggers": """
        SELECT t.relname, g.tgname, pg_get_triggerdef(g.oid)
        FROM pg_trigger g JOIN pg_class t ON t.oid = g.tgrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE n.nspname = %(s)s AND NOT g.tgisinternal ORDER BY 1, 2""",
    "functions": """
        SELECT p.proname, pg_get_function_result(p.oid), p.prosrc
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = %(s)s ORDER BY 1""",
}

ALL_MIGRATIONS = [name for name, _ in load_migrations("tidings.store.postgres")]


def _catalog(conn: psycopg.Connection[Any], schema: str) -> dict[str, list[tuple[str, ...]]]:
    return {
        kind: [
            tuple(str(v).replace(schema, "<schema>") for v in row)
            for row in conn.execute(query, {"s": schema})
        ]
        for kind, query in _CATALOG.items()
    }


def _drop(conn: psycopg.Connection[Any], schema: str) -> None:
    conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def _new_run(run_id: str, *, key: str | None = None) -> NewRun:
    return NewRun(
        id=run_id, task_id="job", queue="default", priority=0, payload="null", run_at=START,
        idempotency_key=key,
    )  # fmt: skip


def test_schema_sql_equals_all_migrations_applied(pg_schema: PgSchema) -> None:
    url, schema = pg_schema
    store = PostgresStore(url)
    assert store.migrate() == ALL_MIGRATIONS
    store.close()
    direct = f"{schema}_direct"
    text = resources.files("tidings.store.postgres").joinpath("schema.sql").read_text()
    with postgres_admin() as conn:
        try:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(direct)))
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(direct)))
            conn.execute(text.encode())
            conn.execute("SET search_path TO pg_catalog")  # qualify every name alike
            migrated, written = _catalog(conn, schema), _catalog(conn, direct)
        finally:
            _drop(conn, direct)
    assert migrated["columns"], "the migrated schema has no tables"
    for kind in _CATALOG:
        assert migrated[kind] == written[kind], kind


def test_migrate_is_idempotent_and_safe_for_concurrent_starters(pg_schema: PgSchema) -> None:
    url, _ = pg_schema
    applied: list[list[str]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def start() -> None:
        store = PostgresStore(url)
        try:
            barrier.wait()
            applied.append(store.migrate())
        except BaseException as exc:
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=start) for _ in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert sorted(len(a) for a in applied) == [0, 0, 0, 0, 0, len(ALL_MIGRATIONS)]
    store = PostgresStore(url)
    assert store.pending_migrations() == []
    assert store.migrate() == []
    store.close()


def test_foreign_schema_is_refused_and_left_untouched(pg_schema: PgSchema) -> None:
    url, schema = pg_schema
    with postgres_admin() as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        conn.execute(
            sql.SQL("CREATE TABLE {}.orders (id int PRIMARY KEY, total numeric)").format(
                sql.Identifier(schema)
            )
        )
        conn.execute(
            sql.SQL("INSERT INTO {}.orders VALUES (1, 9.5)").format(sql.Identifier(schema))
        )
    app = Tidings(url)
    with pytest.raises(StoreError, match=rf"schema '{schema}'.*tables that are not tidings'"):
        app.list_runs()
    with postgres_admin() as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", [schema]
        ).fetchall()
        functions = conn.execute(
            "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = %s",
            [schema],
        ).fetchone()
    assert tables == [("orders",)]
    assert functions == (0,)


def test_schema_from_a_newer_tidings_is_refused(pg_schema: PgSchema) -> None:
    url, schema = pg_schema
    store = PostgresStore(url)
    store.migrate()
    store.close()
    with postgres_admin() as conn:
        conn.execute(
            sql.SQL(
                "INSERT INTO {}.tidings_migrations (name, applied_at) VALUES ('0999_future', now())"
            ).format(sql.Identifier(schema))
        )
    with pytest.raises(StoreError, match=r"newer tidings.*0999_future"):
        Tidings(url).list_runs()


def test_auto_migrate_off_asks_for_tidings_migrate(pg_schema: PgSchema) -> None:
    url, _ = pg_schema
    app = Tidings(url, auto_migrate=False)
    with pytest.raises(ConfigError, match="tidings migrate"):
        app.list_runs()
    assert app.migrate() == ALL_MIGRATIONS
    assert app.list_runs() == []
    app.close()


def test_unreachable_server_is_a_store_error_naming_the_host() -> None:
    url = "postgresql://postgres:hunter2@127.0.0.1:1/appdb?schema=tidings"
    with pytest.raises(StoreError) as info:
        Tidings(url).list_runs()
    message = str(info.value)
    assert "cannot connect to PostgreSQL at 127.0.0.1:1/appdb" in message
    assert "hunter2" not in message
    assert "***" in message


def test_urls_and_schema_names() -> None:
    assert parse_url("postgres://u@h:5/db") == ("postgres://u@h:5/db", "tidings")
    assert parse_url("postgresql://u@h/db?sslmode=disable&schema=env_2") == (
        "postgresql://u@h/db?sslmode=disable",
        "env_2",
    )
    with pytest.raises(StoreError, match="not a usable schema name"):
        parse_url("postgresql://u@h/db?schema=Robert');DROP")


def test_times_come_back_aware_utc(pg_schema: PgSchema) -> None:
    url, _ = pg_schema
    app = Tidings(url)

    @app.task
    async def job(ctx: Context, payload: None) -> None: ...

    run = app.get_run(app.trigger("job", run_at=START + timedelta(hours=1)).id)
    assert run.run_at == START + timedelta(hours=1)
    assert run.run_at is not None
    assert run.run_at.tzinfo is UTC
    assert run.created_at.tzinfo is UTC
    app.close()


def test_a_trigger_from_another_instance_changes_the_marker(pg_schema: PgSchema) -> None:
    url, _ = pg_schema
    watcher, writer = Tidings(url), Tidings(url)
    for a in (watcher, writer):

        @a.task
        async def job(ctx: Context, payload: None) -> None: ...

    try:
        before = watcher.store.change_marker()
        started = time.monotonic()
        writer.trigger("job")
        while watcher.store.change_marker() == before:
            assert time.monotonic() - started < 5, "no notification within 5 s"
            time.sleep(0.001)
    finally:
        watcher.close()
        writer.close()


def test_concurrent_claimers_never_get_the_same_run(pg_schema: PgSchema) -> None:
    url, _ = pg_schema
    stores = [open_store(url) for _ in range(2)]
    stores[0].migrate()
    ids = {uuid.uuid4().hex for _ in range(300)}
    for run_id in ids:
        stores[0].runs.create(_new_run(run_id), START, timedelta(days=1))
    claimed: list[str] = []
    barrier = threading.Barrier(8)

    def claim(n: int) -> None:
        store = stores[n % 2]
        barrier.wait()
        while batch := store.runs.claim(
            f"w{n}", None, START, START + timedelta(minutes=5), limit=7
        ):
            claimed.extend(r.id for r in batch)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for store in stores:
        store.close()
    assert len(claimed) == len(set(claimed))
    assert set(claimed) == ids


def test_idempotency_key_is_taken_over_once_expired(pg_schema: PgSchema) -> None:
    url, _ = pg_schema
    store = open_store(url)
    store.migrate()
    ttl = timedelta(hours=24)
    first, created = store.runs.create(_new_run("r1", key="k"), START, ttl)
    assert (first, created) == ("r1", True)
    assert store.runs.create(_new_run("r2", key="k"), START + timedelta(hours=1), ttl) == (
        "r1",
        False,
    )
    assert store.runs.create(_new_run("r3", key="k"), START + ttl, ttl) == ("r3", True)
    store.close()


def test_an_idle_worker_starts_a_run_triggered_elsewhere_without_waiting_for_a_poll(
    pg_schema: PgSchema,
) -> None:
    url, _ = pg_schema
    worker_app, client = Tidings(url), Tidings(url)
    started: list[float] = []
    for a in (worker_app, client):

        @a.task
        async def job(ctx: Context, payload: None) -> None:
            started.append(time.monotonic())

    worker = worker_app.worker(poll_interval=30)  # only NOTIFY can make this prompt
    thread = threading.Thread(target=asyncio.run, args=(worker.run(),), daemon=True)
    thread.start()
    try:
        client.trigger("job").result(timeout=10)  # the worker is up and idle after this
        latencies = []
        for _ in range(5):
            sent = time.monotonic()
            client.trigger("job").result(timeout=10)
            latencies.append(started[-1] - sent)
    finally:
        worker.stop()
        thread.join(timeout=30)
        worker_app.close()
        client.close()
    assert max(latencies) < 1.0, latencies


def test_text_with_a_nul_is_refused_as_bad_input_and_nothing_is_written(
    pg_schema: tuple[str, str],
) -> None:
    """PostgreSQL text cannot hold NUL: the value is refused before it is sent, as a
    ValidationError (422 at the HTTP door) that is also a StoreError to the engine."""
    url, schema = pg_schema
    app = Tidings(url)
    try:
        with pytest.raises(UnstorableTextError, match="contains a NUL character") as info:
            app.recipients.upsert("bad\x00id", email="a@example.com")
        assert isinstance(info.value, ValidationError)
        assert isinstance(info.value, StoreError)
        with postgres_admin() as admin:
            count = admin.execute(
                sql.SQL("SELECT count(*) FROM {}.recipients").format(sql.Identifier(schema))
            ).fetchone()
        assert count == (0,)
    finally:
        app.close()
