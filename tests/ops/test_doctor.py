"""``tidings doctor`` on both stores: healthy, stuck runs, pending migrations, skew, secrets."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import psycopg.sql
import pytest

from tidings.ops.doctor import run_checks
from tidings.store.postgres.database import parse_url
from tidings.store.queries import load_migrations
from tidings.store.sqlite.database import iter_statements
from tidings.store.urls import path_from_url

from .conftest import APP, cli_env, fails, ok, run_cli
from .opsapp import make_app


def doctor(url: str | None, tmp_path: Path, *extra: str, app: str | None = APP) -> Any:
    args = ["doctor", "--json", *extra]
    if url is not None:
        args += ["--database-url", url]
    if app is not None:
        args += ["--app", app]
    result = run_cli(*args, cwd=tmp_path)
    assert "Traceback" not in result.stderr
    checks = json.loads(result.stdout)
    failed = any(c["status"] == "fail" for c in checks)
    assert result.returncode == (1 if failed else 0)
    return {c["name"]: c for c in checks}


def test_a_healthy_environment_passes(new_url: Callable[[], str], tmp_path: Path) -> None:
    url = new_url()
    make_app(url).migrate()
    checks = doctor(url, tmp_path)
    assert {name: c["status"] for name, c in checks.items()} == {
        "configuration": "ok",
        "database": "ok",
        "migrations": "ok",
        "credentials": "ok",
        "clock": "ok",
        "stuck runs": "ok",
        "retention": "ok",
    }
    table = ok(run_cli("doctor", "--app", APP, "--database-url", url, cwd=tmp_path))
    assert "stuck runs" in table
    assert "✔" in table


def test_stuck_runs_are_reported_with_a_fix(new_url: Callable[[], str], tmp_path: Path) -> None:
    url = new_url()
    app = make_app(url)
    now = datetime.now(UTC)
    # A worker that claimed a run two hours ago and died: its lease ran out long ago.
    held = app.trigger("churn", {"n": 1}, run_at=now - timedelta(hours=2)).id
    claimed = app.store.runs.claim(
        "dead-worker", None, now - timedelta(hours=1), now - timedelta(hours=1) + app.lease, 1
    )
    assert [c.id for c in claimed] == [held]
    # A run due an hour ago that no worker picked up.
    overdue = app.trigger("churn", {"n": 2}, run_at=now - timedelta(hours=1), queue="mail").id
    fresh = app.trigger("churn", {"n": 3}).id  # due now: not stuck
    app.close()

    check = doctor(url, tmp_path)["stuck runs"]
    assert check["status"] == "fail"
    assert "1 RUNNING with leases expired" in check["detail"]
    assert held in check["detail"]
    assert overdue in check["detail"]
    assert fresh not in check["detail"]
    assert "tidings worker" in check["fix"]
    assert "--queue mail" in check["fix"]


def _migrate_all_but_last(url: str) -> str:
    if url.startswith("sqlite:"):
        migrations = load_migrations("tidings.store.sqlite")
        conn = sqlite3.connect(path_from_url(url), isolation_level=None)
        for name, script in migrations[:-1]:
            for statement in iter_statements(script):
                conn.execute(statement)
            conn.execute("INSERT INTO tidings_migrations (name, applied_at) VALUES (?, 0)", (name,))
        conn.close()
        return migrations[-1][0]
    migrations = load_migrations("tidings.store.postgres")
    conninfo, schema = parse_url(url)
    with psycopg.connect(conninfo, autocommit=True) as pg:
        pg.execute(psycopg.sql.SQL("CREATE SCHEMA {}").format(psycopg.sql.Identifier(schema)))
        pg.execute(psycopg.sql.SQL("SET search_path TO {}").format(psycopg.sql.Identifier(schema)))
        for name, script in migrations[:-1]:
            pg.execute(script.encode())
            pg.execute(
                "INSERT INTO tidings_migrations (name, applied_at) VALUES (%s, now())", [name]
            )
    return migrations[-1][0]


def test_a_pending_migration_fails_until_migrated(
    new_url: Callable[[], str], tmp_path: Path
) -> None:
    url = new_url()
    last = _migrate_all_but_last(url)
    checks = doctor(url, tmp_path)
    assert checks["migrations"]["status"] == "fail"
    assert last in checks["migrations"]["detail"]
    assert "tidings migrate" in checks["migrations"]["fix"]
    assert checks["stuck runs"]["status"] == "skip"
    ok(run_cli("migrate", "--app", APP, "--database-url", url, cwd=tmp_path))
    assert doctor(url, tmp_path)["migrations"]["status"] == "ok"


def test_clock_skew_against_the_database(pg_schemas: Any, tmp_path: Path) -> None:
    url = pg_schemas.url()
    make_app(url).migrate()

    def skewed(seconds: float) -> dict[str, Any]:
        def clock() -> datetime:
            return datetime.now(UTC) + timedelta(seconds=seconds)

        return {c.name: c for c in run_checks(None, url, None, clock=clock)}["clock"].__dict__

    assert skewed(0)["status"] == "ok"
    warn = skewed(3)
    assert warn["status"] == "warn"
    assert "ahead of the database" in warn["detail"]
    fail = skewed(-60)
    assert fail["status"] == "fail"
    assert "behind the database" in fail["detail"]
    assert "NTP" in fail["fix"]


def test_credentials_are_checked_and_never_printed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    make_app(url).migrate()
    result = run_cli("doctor", "--app", "opsapp:creds_app", "--database-url", url, cwd=tmp_path)
    json_result = run_cli(
        "doctor", "--json", "--app", "opsapp:creds_app", "--database-url", url, cwd=tmp_path
    )
    for r in (result, json_result):
        assert r.returncode == 1
        assert "TOPSECRET" not in r.stdout + r.stderr
    creds = {c["name"]: c for c in json.loads(json_result.stdout)}["credentials"]
    assert creds["status"] == "fail"
    assert "email/smtp.api_key" in creds["detail"]
    assert "email/resend.api_key" not in creds["detail"]  # present
    assert "webhook_secret" not in creds["detail"]  # optional and unset


def test_production_needs_a_secret_key(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    make_app(url).migrate()
    checks = doctor(url, tmp_path, "--env", "production")
    assert "TIDINGS_SECRET_KEY" in checks["credentials"]["detail"]
    env = cli_env(TIDINGS_SECRET_KEY="x" * 32)
    result = run_cli(
        "doctor",
        "--json",
        "--app",
        APP,
        "--database-url",
        url,
        "--env",
        "production",
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stdout
    assert "x" * 32 not in result.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), "no app given"),
        (("--app", "nowhere:app"), "module 'nowhere' not found"),
        (("--app", APP, "--database-url", "postgresql://postgres@127.0.0.1:1/x"), "cannot connect"),
        (("--app", APP, "--database-url", "sqlite:///missing/db.sqlite3"), "does not exist yet"),
    ],
)
def test_broken_setups_fail_with_a_fix(
    tmp_path: Path, args: tuple[str, ...], expected: str
) -> None:
    result = run_cli("doctor", "--json", *args, cwd=tmp_path)
    fails(result)
    checks = json.loads(result.stdout)
    failed = [c for c in checks if c["status"] == "fail"]
    assert len(failed) == 1
    assert expected in failed[0]["detail"]
    assert failed[0]["fix"]
