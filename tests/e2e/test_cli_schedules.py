"""``tidings schedules list``, run for real in a subprocess."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_cli import Cli
from tidings import Context, Tidings


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


def test_schedules_list_shows_next_fire_times(cli: Cli) -> None:
    assert cli.json("schedules", "list") == []
    assert "no schedules" in cli.ok("schedules", "list")

    app = Tidings(cli.db)

    @app.task(id="greet")
    async def greet(ctx: Context, payload: dict[str, Any]) -> None: ...

    made = app.schedules.create(
        "greet", "0 9 * * *", "Europe/Berlin", key="digest:u1", payload={"name": "u1"}
    )
    app.close()

    [listed] = cli.json("schedules", "list")
    assert listed["id"] == made.id
    assert listed["key"] == "digest:u1"
    assert listed["next_run_at"] == made.next_run_at.isoformat()
    assert listed["payload"] == {"name": "u1"}
    table = cli.ok("schedules", "list")
    assert made.id in table
    assert "0 9 * * *" in table
    assert "09:00 CE" in table  # the next fire time in the schedule's timezone (CET/CEST)
