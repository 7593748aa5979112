"""Fixtures: an app with the test tasks on each store, served over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.server.harness import add_tasks, serving
from tidings import Tidings


@pytest.fixture
def api_app(database_url: str) -> Iterator[Tidings]:
    app = Tidings(database_url, environment="staging")
    add_tasks(app)
    yield app
    app.close()


@pytest.fixture
def base_url(api_app: Tidings) -> Iterator[str]:
    with serving(api_app) as url:
        yield url
