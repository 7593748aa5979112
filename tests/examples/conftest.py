"""Fixtures for the example apps: each test gets tidings' database (SQLite or PostgreSQL,
from the shared ``database_url`` fixture) and a separate one for the app's own tables."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg.sql
import pytest

from tests.conftest import postgres_admin


@pytest.fixture
def data_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """The example's own database, on the same backend as tidings' for this test."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'app-data.db'}"
        return
    schema = database_url.rsplit("schema=", 1)[1] + "_app"
    base = database_url.rsplit("schema=", 1)[0]
    yield f"{base}schema={schema}"
    admin = postgres_admin()
    try:
        admin.execute(
            psycopg.sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                psycopg.sql.Identifier(schema)
            )
        )
    finally:
        admin.close()
