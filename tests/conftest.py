"""Shared fixtures: every contract test runs once per store backend."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import psycopg.sql
import pytest

from tests.logwatch import watching
from tidings import Tidings

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

# One entry per backend: every contract test runs on each.
BACKENDS = ["sqlite", "postgres"]

# The server the PostgreSQL tests use; each test gets a fresh schema in it.
PG_SERVER = os.environ.get("TIDINGS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def postgres_admin() -> psycopg.Connection[tuple[object, ...]]:
    """An autocommit connection to the test server; skip (or fail, if required) if none."""
    try:
        return psycopg.connect(PG_SERVER, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        message = f"PostgreSQL test server {PG_SERVER} unreachable: {exc}"
        if os.environ.get("TIDINGS_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{message} (TIDINGS_REQUIRE_POSTGRES=1)")
        pytest.skip(message)


@pytest.fixture
def pg_schema() -> Iterator[tuple[str, str]]:
    """``(url, schema)``: a fresh schema name on the test server, dropped afterwards."""
    admin = postgres_admin()
    schema = f"tidings_test_{uuid.uuid4().hex}"
    sep = "&" if "?" in PG_SERVER else "?"
    try:
        yield f"{PG_SERVER}{sep}schema={schema}", schema
    finally:
        admin.execute(
            psycopg.sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                psycopg.sql.Identifier(schema)
            )
        )
        admin.close()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    backend = request.param
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'tidings.db'}"
    if backend == "postgres":
        url, _ = request.getfixturevalue("pg_schema")
        return str(url)
    raise AssertionError(f"unknown backend {backend}")


@pytest.fixture
def make_app(database_url: str) -> Iterator[Callable[..., Tidings]]:
    apps: list[Tidings] = []

    def factory(**options: object) -> Tidings:
        app = Tidings(database_url, **options)  # type: ignore[arg-type]
        apps.append(app)
        return app

    yield factory
    for app in apps:
        app.close()


@pytest.fixture
def app(make_app: Callable[..., Tidings]) -> Tidings:
    return make_app()


@pytest.fixture
def no_secrets_in_logs() -> Iterator[None]:
    """Issue 22, finding 4: fail the test if any log line holds a key, token, secret or
    password (tests/logwatch.py). Autouse over tests/server; opt in elsewhere with
    ``pytestmark = pytest.mark.usefixtures("no_secrets_in_logs")``."""
    with watching() as watch:
        yield
    assert not watch.leaks, "secrets in log lines:\n" + "\n".join(watch.leaks)
