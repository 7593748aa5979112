"""The ``[retention]`` table of tidings.toml, as ``tidings config check`` reads it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tidings import Retention
from tidings.errors import ConfigError
from tidings.retention import describe
from tidings.settings import check_config, retention_settings


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "tidings.toml").write_text(text, encoding="utf-8")
    return tmp_path


def test_a_valid_table_is_read_and_not_reported(tmp_path: Path) -> None:
    folder = _write(tmp_path, '[retention]\nruns = "2w"\nevents = 3\ninbox = false\n')
    assert retention_settings(folder) == Retention(
        runs=timedelta(days=14), events=timedelta(days=3), inbox=None
    )
    assert not [p for p in check_config(folder) if "retention" in p]


def test_no_table_is_no_policy(tmp_path: Path) -> None:
    assert retention_settings(_write(tmp_path, '[tidings]\napp = "x:app"\n')) is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('events = "10m"', "[retention] events must be a period"),
        ('events = "0.5h"', "Retention.events must be at least one hour"),
        ('runs = "30d"\nkeep = "1d"', "[retention]: unknown keys keep"),
        ("batch = 5", "Retention.batch must be an int from 100 to 50000"),
        ("outbox = [1]", "[retention] outbox must be a period"),
    ],
)
def test_a_bad_table_is_one_clear_problem(tmp_path: Path, body: str, message: str) -> None:
    folder = _write(tmp_path, f"[retention]\n{body}\n")
    with pytest.raises(ConfigError) as raised:
        retention_settings(folder)
    assert message in str(raised.value)
    assert [p for p in check_config(folder) if message in p]


def test_periods_read_as_people_write_them() -> None:
    assert describe(timedelta(days=1)) == "1 day"
    assert describe(timedelta(hours=36)) == "36 hours"
    assert describe(None) == "kept forever"
    assert Retention().describe()["deliveries"] == "90 days"
    assert not Retention.off().enabled
