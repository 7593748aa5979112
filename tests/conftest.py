"""Shared fixtures: every contract test runs once per store backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tidings import Tidings

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

# One entry per backend; the PostgreSQL store adds itself here.
BACKENDS = ["sqlite"]


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    backend = request.param
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'tidings.db'}"
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
