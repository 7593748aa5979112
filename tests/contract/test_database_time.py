"""Database time: on PostgreSQL the engine's clock is the database server's clock as
measured from this host; on SQLite (one host) it is this host's clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import pytest

from tidings import Context, Tidings
from tidings.clock import DatabaseClock, ScaledClock, elapsed
from tidings.testing import TestEngine

from ..conftest import PG_SERVER, postgres_admin

START = datetime(2026, 3, 1, 9, tzinfo=UTC)


def test_the_engine_clock_is_measured_against_the_database(app: Tidings) -> None:
    app.store  # noqa: B018 - opening the store measures the server's clock
    clock = app.kernel.clock
    assert clock is app.kernel.database_clock
    assert isinstance(clock, DatabaseClock)
    if app.database_url.startswith("sqlite"):
        assert clock.offset is None  # one host: its own clock is everybody's
        assert abs((clock.now() - datetime.now(UTC)).total_seconds()) < 0.5
        return
    assert clock.offset is not None
    assert clock.uncertainty is not None
    assert clock.uncertainty < 1.0
    with postgres_admin() as admin:
        before = clock.now()
        row = admin.execute("SELECT clock_timestamp()").fetchone()
        after = clock.now()
    assert row is not None
    server = row[0]
    assert isinstance(server, datetime)
    slack = timedelta(seconds=clock.uncertainty + 0.05)
    assert before - slack <= server <= after + slack


def test_a_database_clock_runs_from_its_measurement_whatever_the_wall_clock_says() -> None:
    clock = DatabaseClock()
    wall = datetime.now(UTC)
    assert abs((clock.now() - wall).total_seconds()) < 0.5  # not measured: the wall clock
    # the database is a minute ahead of this host
    clock.correct(wall + timedelta(seconds=60), elapsed(), wall, 0.002)
    assert clock.offset == pytest.approx(60.0)
    assert clock.uncertainty == pytest.approx(0.001)
    ahead = (clock.now() - datetime.now(UTC)).total_seconds()
    assert 59.5 < ahead < 60.5


async def test_testengine_and_configured_clocks_replace_database_time(app: Tidings) -> None:
    app.store  # noqa: B018

    @app.task
    async def when(ctx: Context) -> str:
        return ctx.now().isoformat()

    database_clock = app.kernel.clock
    async with TestEngine(app, start=START) as engine:
        assert app.kernel.clock is not database_clock
        handle = await engine.trigger(when)
        assert await handle.result_async() == START.isoformat()
    assert app.kernel.clock is app.kernel.database_clock
    app.configure(clock=ScaledClock(START, 60))
    assert abs((app.kernel.clock.now() - START).total_seconds()) < 60
    assert PG_SERVER  # the PostgreSQL case runs on the test server


def test_a_multi_host_url_opens_on_the_writable_server(pg_schema: tuple[str, str]) -> None:
    """The first host refuses connections: libpq moves on to the next one."""
    url, schema = pg_schema
    server = urlsplit(url)
    netloc = f"{server.netloc.rpartition('@')[0]}@127.0.0.1:1,{server.hostname}:{server.port}"
    query = f"{server.query}&target_session_attrs=read-write"
    app = Tidings(urlunsplit(server._replace(netloc=netloc, query=query)))
    try:

        @app.task
        async def ping(ctx: Context) -> str:
            return "pong"

        run = app.trigger(ping)
        assert app.get_run(run.id).task_id == "ping"
        assert app.kernel.database_clock.offset is not None
    finally:
        app.close()
    assert schema in url
