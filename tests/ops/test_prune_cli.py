"""``tidings prune`` and the doctor's retention check, run for real on both stores."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tidings import RunStatus
from tidings.errors import UnknownRunError
from tidings.testing import TestEngine

from .conftest import APP, fails, ok, run_cli
from .opsapp import make_app


async def _old_runs(url: str, n: int, days_ago: int) -> list[str]:
    """``n`` runs of ``churn`` that finished ``days_ago`` days ago."""
    app = make_app(url)
    try:
        async with TestEngine(app, start=datetime.now(UTC) - timedelta(days=days_ago)) as t:
            ids = [(await t.trigger("churn", {"n": i, "pause": 0})).id for i in range(n)]
            assert all(app.get_run(r).status is RunStatus.COMPLETED for r in ids)
    finally:
        app.close()
    return ids


def _doctor(url: str, cwd: Path) -> dict[str, dict[str, str]]:
    result = run_cli("doctor", "--json", "--app", APP, "--database-url", url, cwd=cwd)
    assert "Traceback" not in result.stderr
    return {c["name"]: c for c in json.loads(result.stdout)}


async def test_doctor_warns_when_pruning_is_behind_until_a_prune(
    new_url: Callable[[], str], tmp_path: Path
) -> None:
    url = new_url()
    ids = await _old_runs(url, 3, days_ago=70)  # over twice the 30 days runs are kept

    check = _doctor(url, tmp_path)["retention"]
    assert check["status"] == "warn"
    assert "pruning is behind" in check["detail"]
    assert "the oldest finished run is 70 days old, over twice the 30 days kept" in check["detail"]
    assert "no prune for over a day (last: never)" in check["detail"]
    assert "tidings prune" in check["fix"]

    out = ok(run_cli("prune", "--app", APP, "--database-url", url, cwd=tmp_path))
    assert "deleted" in out
    assert "30 days" in out  # the runs' period, in the table
    assert "deleted 3 rows" in " ".join(out.split())
    app = make_app(url)
    try:
        for run_id in ids:
            try:
                app.get_run(run_id)
            except UnknownRunError:
                continue
            raise AssertionError(f"{run_id} was not pruned")
        last = app.last_prune()
        assert last is not None
        assert last.counts["runs"] == 3
    finally:
        app.close()
    check = _doctor(url, tmp_path)["retention"]
    assert check["status"] == "ok", check
    assert "pruning keeps up" in check["detail"]


async def test_a_dry_run_prints_counts_and_deletes_nothing(
    new_url: Callable[[], str], tmp_path: Path
) -> None:
    url = new_url()
    ids = await _old_runs(url, 4, days_ago=40)
    args = ("prune", "--dry-run", "--app", APP, "--database-url", url)
    out = ok(run_cli(*args, cwd=tmp_path))
    assert "would delete (dry run)" in out
    assert "4 rows would be deleted; nothing changed" in " ".join(out.split())
    report = json.loads(ok(run_cli(*args, "--json", cwd=tmp_path)))
    assert report["dry_run"] is True
    assert report["counts"]["runs"] == 4
    assert report["id"] is None
    app = make_app(url)
    try:
        assert all(app.get_run(r).status is RunStatus.COMPLETED for r in ids)
        assert app.last_prune() is None
    finally:
        app.close()


def test_a_bad_retention_table_is_one_clear_error(
    new_url: Callable[[], str], tmp_path: Path
) -> None:
    (tmp_path / "tidings.toml").write_text('[retention]\nevents = "0.25h"\n', encoding="utf-8")
    err = fails(run_cli("prune", "--app", APP, "--database-url", new_url(), cwd=tmp_path))
    assert "Retention.events must be at least one hour" in " ".join(err.split())


async def test_the_mcp_retention_tools(new_url: Callable[[], str], tmp_path: Path) -> None:
    from mcp import Client

    from .test_mcp import _data, _server

    url = new_url()
    ids = await _old_runs(url, 2, days_ago=40)
    async with Client(_server(url, tmp_path)) as client:
        status = _data(await client.call_tool("retention_status", {}))
        assert status["policy"]["runs"] == "30 days"
        assert status["last_prune"] is None
        dry = _data(await client.call_tool("prune", {}))
        assert dry["dry_run"] is True
        assert dry["counts"]["runs"] == 2
        done = _data(await client.call_tool("prune", {"dry_run": False}))
        assert done["counts"]["runs"] == 2
        status = _data(await client.call_tool("retention_status", {}))
        assert status["last_prune"]["id"] == done["id"]
    app = make_app(url)
    try:
        for run_id in ids:
            try:
                app.get_run(run_id)
            except UnknownRunError:
                continue
            raise AssertionError(f"{run_id} was not pruned")
    finally:
        app.close()
