"""``tidings backup`` / ``tidings restore`` on both stores, while a worker process runs."""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tidings import RunStatus, Tidings
from tidings.ops.backup import list_backups

from .conftest import APP, cli_env, fails, ok, run_cli, wait_until, worker_process
from .opsapp import make_app

TOTAL = 400


def _completed(app: Tidings) -> set[str]:
    return {r.id for r in app.list_runs(status="COMPLETED", limit=TOTAL * 2)}


def test_backup_mid_load_restores_every_run_completed_at_backup_time(
    new_url: Callable[[], str], tmp_path: Path
) -> None:
    source_url, target_url = new_url(), new_url()
    source = make_app(source_url)
    # The first half completes at about 8 runs a second (for 25 s) while the backup is
    # taken; the second half waits for a gate the test opens only after the backup ended,
    # so the load outlasts the backup however slow the machine is.
    gate = tmp_path / "gate"
    for n in range(TOTAL):
        payload: dict[str, Any] = {"n": n, "pause": 1.0}
        if n >= TOTAL // 2:
            payload["gate"] = str(gate)
        source.trigger("churn", payload)
    with worker_process(source_url, tmp_path, "--concurrency", "8") as proc:
        wait_until(lambda: len(_completed(source)) >= 24, 120, "the first completions")
        before = _completed(source)
        out = ok(
            run_cli(
                "backup",
                "--database-url",
                source_url,
                "--env",
                "ops",
                "--out",
                str(tmp_path / "bk"),
                cwd=tmp_path,
            )
        )
        after = _completed(source)
        assert proc.poll() is None, "the worker kept running through the backup"
        gate.touch()
    assert len(after) < TOTAL, "the backup was taken while runs were still being completed"
    file = Path(out.strip())
    assert file.name.startswith("ops-")
    assert file.exists()
    manifest = json.loads(file.with_name(file.name + ".json").read_text())
    assert manifest["environment"] == "ops"
    assert manifest["tables"]["runs"] == TOTAL

    ok(run_cli("restore", str(file), "--database-url", target_url, cwd=tmp_path))
    restored = make_app(target_url)
    try:
        got = _completed(restored)
        # Every run completed before the backup began is in it; none completed after it ended.
        assert before <= got <= after
        assert len(restored.list_runs(limit=TOTAL * 2)) == TOTAL
        for run_id in sorted(got)[:50]:
            mine, theirs = restored.get_run(run_id), source.get_run(run_id)
            assert mine == theirs  # payload, result, steps, times: all of it
            assert restored.get_logs(run_id) == source.get_logs(run_id)
        # The restored environment works: its queued runs can be run to the end.
        assert restored.list_runs(status=["QUEUED", "RUNNING"], limit=1)
    finally:
        restored.close()
        source.close()


def test_restore_refuses_a_non_empty_environment_unless_forced(
    new_url: Callable[[], str], tmp_path: Path
) -> None:
    a, b = new_url(), new_url()
    first = make_app(a).trigger("churn", {"n": 1}).id
    file = ok(run_cli("backup", "--database-url", a, "--out", str(tmp_path), cwd=tmp_path)).strip()
    other = make_app(b)
    kept = other.trigger("churn", {"n": 2}).id
    other.close()

    refused = fails(run_cli("restore", file, "--database-url", b, cwd=tmp_path))
    assert "not empty (runs: 1" in refused
    assert "--force" in refused
    check = make_app(b)
    assert [r.id for r in check.list_runs()] == [kept]  # untouched
    check.close()

    ok(run_cli("restore", file, "--database-url", b, "--force", cwd=tmp_path))
    check = make_app(b)
    assert [r.id for r in check.list_runs()] == [first]
    check.close()


def test_a_restore_that_fails_changes_nothing(new_url: Callable[[], str], tmp_path: Path) -> None:
    a, b = new_url(), new_url()
    make_app(a).trigger("churn", {"n": 1})
    file = Path(
        ok(run_cli("backup", "--database-url", a, "--out", str(tmp_path), cwd=tmp_path)).strip()
    )
    other = make_app(b)
    kept = other.trigger("churn", {"n": 2}).id
    other.close()
    # A manifest that disagrees with the file: the restore must stop before committing.
    manifest = file.with_name(file.name + ".json")
    data = json.loads(manifest.read_text())
    data["tables"]["runs"] = 99
    manifest.write_text(json.dumps(data))
    err = fails(run_cli("restore", str(file), "--database-url", b, "--force", cwd=tmp_path))
    assert "99" in err
    check = make_app(b)
    assert [r.id for r in check.list_runs()] == [kept]
    check.close()


def test_keep_n_removes_older_backups_of_that_environment_only(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    make_app(url).migrate()
    folder = tmp_path / "bk"
    other = ok(
        run_cli(
            "backup", "--database-url", url, "--env", "staging", "--out", str(folder), cwd=tmp_path
        )
    )
    made = [
        ok(
            run_cli(
                "backup",
                "--database-url",
                url,
                "--env",
                "ops",
                "--out",
                str(folder),
                "--keep",
                "2",
                cwd=tmp_path,
            )
        ).strip()
        for _ in range(3)
    ]
    assert [str(p) for p in list_backups(folder, "ops")] == made[:0:-1]
    assert Path(other.strip()).exists()
    assert not Path(made[0]).exists()
    assert not Path(made[0] + ".json").exists()


def test_backup_and_restore_errors_are_one_clear_line(tmp_path: Path) -> None:
    missing = f"sqlite:///{tmp_path / 'absent.db'}"
    assert "does not exist" in fails(run_cli("backup", "--database-url", missing, cwd=tmp_path))
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not a backup at all")
    err = fails(run_cli("restore", str(junk), "--database-url", missing, cwd=tmp_path))
    assert "neither a SQLite database nor a pg_dump" in err
    assert "does not exist" in fails(
        run_cli("restore", str(tmp_path / "nope"), "--database-url", missing, cwd=tmp_path)
    )
    assert "no app given" in fails(run_cli("backup", cwd=tmp_path))


def _fake_tool(folder: Path, name: str, version: str) -> None:
    # No PostgreSQL client older than the server can exist on this machine: a script
    # that answers --version as an old pg_dump does stands in for one.
    path = folder / name
    path.write_text(f"#!/bin/sh\necho '{name} (PostgreSQL) {version}'\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_pg_dump_missing_or_older_than_the_server_is_reported(
    pg_schemas: object, tmp_path: Path
) -> None:
    from .conftest import PgSchemas

    assert isinstance(pg_schemas, PgSchemas)
    url = pg_schemas.url()
    make_app(url).migrate()
    bare = tmp_path / "bin"
    bare.mkdir()
    env = cli_env(PATH=str(bare))
    env["PATH"] = f"{bare}{os.pathsep}{Path(sys.executable).parent}"  # python, not pg_dump
    err = fails(run_cli("backup", "--database-url", url, cwd=tmp_path, env=env))
    assert "pg_dump not found on PATH" in err
    _fake_tool(bare, "pg_dump", "9.6.24")
    err = fails(run_cli("backup", "--database-url", url, cwd=tmp_path, env=env))
    assert "version 9 but the server is PostgreSQL" in err
    assert not list(tmp_path.glob("**/*.pgdump"))


@pytest.mark.parametrize("app_flag", [True, False])
def test_backup_finds_the_database_through_the_app(tmp_path: Path, app_flag: bool) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    app = make_app(url)
    app.migrate()
    args = ["backup", "--out", str(tmp_path / "bk")]
    env = cli_env(TIDINGS_DATABASE_URL=url)
    if app_flag:
        args += ["--app", APP]
    out = ok(run_cli(*args, cwd=tmp_path, env=env)).strip()
    assert Path(out).name.startswith("ops-" if app_flag else "dev-")


def test_status_of_restored_runs_is_kept(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    app = make_app(url)
    run_id = app.trigger("hold").id
    app.cancel(run_id)
    app.close()
    file = ok(
        run_cli("backup", "--database-url", url, "--out", str(tmp_path), cwd=tmp_path)
    ).strip()
    target = f"sqlite:///{tmp_path / 'b.db'}"
    ok(run_cli("restore", file, "--database-url", target, cwd=tmp_path))
    assert make_app(target).get_run(run_id).status is RunStatus.CANCELLED


def test_verify_toc_skips_the_scratch_restore(pg_schemas: Any, tmp_path: Path) -> None:
    url = pg_schemas.url()
    make_app(url).trigger("churn", {"n": 1})
    args = ("backup", "--database-url", url, "--out", str(tmp_path), "--verify")
    quick = Path(ok(run_cli(*args, "toc", cwd=tmp_path)).strip())
    assert json.loads(quick.with_name(quick.name + ".json").read_text())["verified"] == "toc"
    full = Path(ok(run_cli(*args, "full", cwd=tmp_path)).strip())
    assert json.loads(full.with_name(full.name + ".json").read_text())["verified"] == "restore"
    assert "--verify must be full or toc" in fails(run_cli(*args, "some", cwd=tmp_path))
