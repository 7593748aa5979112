"""Rolling deploys: this release on a database a newer release has already migrated.

A newer release's migrations are simulated the way that release would apply them: the
DDL and a ``tidings_migrations`` row with its recorded compatibility, written straight
to the database. A store that finds migrations it does not know starts if every one is
recorded as compatible, and refuses otherwise; either way it applies and records nothing.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import psycopg.sql
import pytest

from tidings import Context, Tidings
from tidings.errors import StoreError
from tidings.store import open_store
from tidings.store.postgres.database import parse_url
from tidings.store.queries import load_migrations, migration_compatible
from tidings.store.urls import path_from_url

from .test_worker import running

FUTURE_ADDITIVE = "9001_future_additive"
FUTURE_BREAKING = "9002_future_breaking"


@contextmanager
def _database(url: str) -> Iterator[Callable[..., Any]]:
    """``execute(sql, params)`` on the store's database, outside any tidings store."""
    if url.startswith("sqlite:"):
        lite = sqlite3.connect(path_from_url(url), isolation_level=None)
        try:
            yield lambda q, p=(): lite.execute(q.replace("%s", "?"), p).fetchall()
        finally:
            lite.close()
        return
    conninfo, schema = parse_url(url)
    with psycopg.connect(conninfo, autocommit=True) as pg:
        pg.execute(psycopg.sql.SQL("SET search_path TO {}").format(psycopg.sql.Identifier(schema)))

        def execute(query: str, params: Any = ()) -> list[Any]:
            cursor = pg.execute(query, params)
            return cursor.fetchall() if cursor.description else []

        yield execute


def _apply_future(url: str, name: str, ddl: str, compatible: bool | None) -> None:
    """What a newer release's ``migrate()`` leaves behind for migration ``name``."""
    with _database(url) as execute:
        execute(ddl)
        execute(
            "INSERT INTO tidings_migrations (name, applied_at, compatible) "
            + ("VALUES (%s, 0, %s)" if url.startswith("sqlite:") else "VALUES (%s, now(), %s)"),
            (name, compatible),
        )


def _recorded(url: str) -> dict[str, bool | None]:
    with _database(url) as execute:
        rows = execute("SELECT name, compatible FROM tidings_migrations")
    return {str(n): None if c is None else bool(c) for n, c in rows}


def _declared(url: str) -> dict[str, bool]:
    package = "tidings.store.sqlite" if url.startswith("sqlite:") else "tidings.store.postgres"
    return {name: migration_compatible(name, sql) for name, sql in load_migrations(package)}


def _forget(url: str, name: str) -> None:
    """As if a release before 0014 had applied ``name``: its compatibility not recorded."""
    with _database(url) as execute:
        execute("UPDATE tidings_migrations SET compatible = NULL WHERE name = %s", (name,))


def test_a_fresh_database_records_every_declaration(database_url: str) -> None:
    store = open_store(database_url)
    try:
        assert store.migrate() == list(_declared(database_url))
    finally:
        store.close()
    assert _recorded(database_url) == _declared(database_url)


def test_compatibility_is_recorded_for_migrations_applied_before_0014(database_url: str) -> None:
    Tidings(database_url).migrate()
    for name in _declared(database_url):
        _forget(database_url, name)
    assert Tidings(database_url).migrate() == []
    assert _recorded(database_url) == _declared(database_url)


def test_a_compatible_future_migration_leaves_this_release_working(
    make_app: Callable[..., Tidings], database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    make_app().migrate()
    _forget(database_url, "0002_events")
    _apply_future(
        database_url, FUTURE_ADDITIVE, "ALTER TABLE runs ADD COLUMN future_note TEXT", True
    )
    before = _recorded(database_url)

    app = make_app()

    @app.task
    async def add(ctx: Context, payload: dict[str, int]) -> int:
        a = await ctx.step("a", lambda: payload["a"])
        return int(a) + payload["b"]

    with caplog.at_level(logging.WARNING, logger="tidings.store"):
        with running(app, poll_interval=0.05):
            handles = [app.trigger("add", {"a": n, "b": 1}) for n in range(5)]
            assert [h.result(timeout=30) for h in handles] == [1, 2, 3, 4, 5]
        assert app.store.pending_migrations() == []
        assert app.store.migrate() == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings  # once per store, not on every check
    assert FUTURE_ADDITIVE in warnings[0]
    assert "newer tidings" in warnings[0]
    # nothing applied, nothing marked: not even the known row left unrecorded
    assert _recorded(database_url) == before
    assert before["0002_events"] is None


@pytest.mark.parametrize("recorded", [False, None], ids=["incompatible", "unrecorded"])
def test_an_incompatible_future_migration_is_refused(
    make_app: Callable[..., Tidings], database_url: str, recorded: bool | None
) -> None:
    make_app().migrate()
    _forget(database_url, "0002_events")
    _apply_future(database_url, FUTURE_ADDITIVE, "CREATE TABLE future_things (id TEXT)", True)
    _apply_future(
        database_url, FUTURE_BREAKING, "ALTER TABLE runs ADD COLUMN future_owner TEXT", recorded
    )
    before = _recorded(database_url)
    app = make_app()
    expected = (
        rf"newer tidings .*{FUTURE_BREAKING}.*"
        rf"{FUTURE_BREAKING} is not backward compatible.*upgrade tidings"
    )
    with pytest.raises(StoreError, match=expected):
        asyncio.run(asyncio.wait_for(app.worker(poll_interval=0.05).run(), 30))
    with pytest.raises(StoreError, match=expected):
        make_app(auto_migrate=False).list_runs()
    store = open_store(database_url)
    try:
        with pytest.raises(StoreError, match=expected):
            store.migrate()
        with pytest.raises(StoreError, match=expected):
            store.pending_migrations()
    finally:
        store.close()
    assert _recorded(database_url) == before


def test_a_future_database_lacking_a_known_migration_is_refused(database_url: str) -> None:
    Tidings(database_url).migrate()
    _apply_future(database_url, FUTURE_ADDITIVE, "CREATE TABLE future_things (id TEXT)", True)
    with _database(database_url) as execute:
        execute("DELETE FROM tidings_migrations WHERE name = %s", ("0010_dashboard",))
    with pytest.raises(StoreError, match=r"lacks migrations this tidings needs \(0010_dashboard\)"):
        Tidings(database_url).list_runs()
    assert "0010_dashboard" not in _recorded(database_url)


def test_concurrent_starters_migrate_once(database_url: str) -> None:
    starters = 4
    barrier = threading.Barrier(starters)
    applied: list[list[str]] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            store = open_store(database_url)
            try:
                barrier.wait(timeout=30)
                applied.append(store.migrate())
            finally:
                store.close()
        except BaseException as exc:  # reported below, on the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(starters)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert len(applied) == starters
    assert sorted(name for names in applied for name in names) == sorted(_declared(database_url))
    assert sum(1 for names in applied if names) == 1  # one starter did all of it
    assert _recorded(database_url) == _declared(database_url)
