"""Rolling upgrades: every migration is backward compatible for one version.

Two kinds of proof. Statically, every migration after the first is additive (parsed
from the files of both backends): no table or column is dropped or renamed, no type
changes, a new column is nullable or has a default, no new constraint or unique index
lands on a table an earlier release wrote to. Dynamically, a worker running the
previous release's code (checked out of git from before the newest migration) keeps
running runs after the current code has migrated the database under it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import pytest

from tidings import RunStatus
from tidings.store import Store, open_store
from tidings.store.sql import load_migrations

from .conftest import APP, HERE, ROOT, cli_env, ok, run_cli, wait_until
from .opsapp import make_app

BACKENDS = ["tidings.store.sqlite", "tidings.store.postgres"]
_COMMENT = re.compile(r"--[^\n]*")
_DOLLAR = re.compile(r"\$\$.*?\$\$", re.S)  # function bodies are code, not DDL
_CREATE_TABLE = re.compile(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+)", re.I)
_ON_TABLE = re.compile(r"CREATE UNIQUE INDEX (?:IF NOT EXISTS )?\w+ ON (\w+)", re.I)
_ALTER_TABLE = re.compile(r"ALTER TABLE (?:ONLY )?(\w+) (.*)", re.I | re.S)
FORBIDDEN = [
    (re.compile(r"\bDROP\s+(TABLE|COLUMN|VIEW|FUNCTION|TRIGGER|TYPE|SCHEMA)\b", re.I), "drops"),
    (re.compile(r"\bRENAME\b", re.I), "renames"),
    (re.compile(r"\bALTER\s+COLUMN\s+\w+\s+(SET\s+DATA\s+)?TYPE\b", re.I), "changes a type"),
    (re.compile(r"\bSET\s+NOT\s+NULL\b", re.I), "makes a column NOT NULL"),
]


def statements(script: str) -> list[str]:
    text = _DOLLAR.sub("$$…$$", _COMMENT.sub("", script))
    return [" ".join(s.split()) for s in text.split(";") if s.strip()]


def breaking_changes(migrations: list[tuple[str, str]]) -> list[str]:
    """What in migrations 2..n would break a worker of the release before it."""
    problems: list[str] = []
    tables: set[str] = set()
    for index, (name, script) in enumerate(migrations):
        created_here: set[str] = set()
        for statement in statements(script):
            if m := _CREATE_TABLE.match(statement):
                created_here.add(m.group(1).lower())
            if index == 0:
                continue
            problems += [
                f"{name}: {what}: {statement}" for rx, what in FORBIDDEN if rx.search(statement)
            ]
            if (m := _ON_TABLE.match(statement)) and m.group(1).lower() in tables:
                problems.append(f"{name}: unique index on existing table: {statement}")
            if m := _ALTER_TABLE.match(statement):
                problems += _alter_problems(name, m.group(1).lower() in tables, m.group(2))
        tables |= created_here
    return problems


def _alter_problems(name: str, existing: bool, action: str) -> list[str]:
    problems = []
    add = re.match(r"ADD (?:COLUMN )?(?:IF NOT EXISTS )?(\w+) (.*)", action, re.I)
    if (
        add
        and re.search(r"\bNOT NULL\b", add.group(2), re.I)
        and "DEFAULT" not in add.group(2).upper()
    ):
        problems.append(f"{name}: new NOT NULL column without a default: {action}")
    if existing and re.match(r"ADD (CONSTRAINT|CHECK|UNIQUE|PRIMARY|FOREIGN)", action, re.I):
        problems.append(f"{name}: new constraint on an existing table: {action}")
    return problems


@pytest.mark.parametrize("package", BACKENDS)
def test_every_migration_is_additive(package: str) -> None:
    migrations = load_migrations(package)
    assert len(migrations) > 1
    assert breaking_changes(migrations) == []


def test_the_checker_catches_breaking_migrations() -> None:
    first = ("0001_initial", "CREATE TABLE runs (id TEXT PRIMARY KEY, status TEXT);")
    cases = {
        "ALTER TABLE runs DROP COLUMN status;": "drops",
        "ALTER TABLE runs RENAME COLUMN status TO state;": "renames",
        "ALTER TABLE runs ADD COLUMN owner TEXT NOT NULL;": "NOT NULL column without a default",
        "ALTER TABLE runs ALTER COLUMN status TYPE INTEGER USING 0;": "changes a type",
        "ALTER TABLE runs ALTER COLUMN status SET NOT NULL;": "NOT NULL",
        "CREATE UNIQUE INDEX runs_status ON runs (status);": "unique index on existing table",
        "ALTER TABLE runs ADD CONSTRAINT one CHECK (status <> '');": "new constraint",
        "DROP TABLE runs;": "drops",
    }
    for script, expected in cases.items():
        found = breaking_changes([first, ("0002_next", script)])
        assert len(found) == 1, script
        assert expected in found[0]
    fine = """ALTER TABLE runs ADD COLUMN note TEXT;
        ALTER TABLE runs ADD COLUMN tries INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE other (id TEXT PRIMARY KEY);
        CREATE UNIQUE INDEX other_id ON other (id);
        CREATE INDEX runs_note ON runs (note);"""
    assert breaking_changes([first, ("0002_next", fine)]) == []


# -- the previous release's worker on the newest schema --------------------------------
def _previous_release(tmp_path: Path) -> Path:
    """``src/`` as it was just before the newest migration was added (from git)."""
    git = shutil.which("git")
    newest = load_migrations("tidings.store.sqlite")[-1][0]
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("needs the git history of the repository")
    path = f"src/tidings/store/sqlite/migrations/{newest}.sql"
    added = subprocess.run(
        [git, "log", "--format=%H", "-n1", "--diff-filter=A", "--", path],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    rev = f"{added}^" if added else "HEAD"  # not committed yet: HEAD is the previous release
    archive = subprocess.run(
        [git, "archive", "--format=tar", rev, "src"], cwd=ROOT, capture_output=True, check=False
    )
    if archive.returncode != 0:
        pytest.skip(f"the history before {newest} is not in this clone (shallow?)")
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(tmp_path / "previous", filter="data")
    old = tmp_path / "previous" / "src"
    assert not (old / "tidings/store/sqlite/migrations" / f"{newest}.sql").exists()
    return old


def _status(store: Store, run_id: str) -> RunStatus | None:
    run = store.get_run(run_id, steps=False)
    return run.status if run else None


def test_a_worker_of_the_previous_release_keeps_working_after_migrating(
    new_url: Callable[[], str], tmp_path: Path
) -> None:
    old_src = _previous_release(tmp_path)
    url = new_url()
    env = cli_env()
    env["PYTHONPATH"] = f"{old_src}:{HERE}"  # the old tidings, today's test app
    log = (tmp_path / "old-worker.log").open("w")
    argv = [sys.executable, "-m", "tidings.cli", "worker", "--app", APP, "--database-url", url]
    old_worker = subprocess.Popen(
        [*argv, "--poll-interval", "0.1"],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # The old worker creates the schema its release knows, and runs a run on it.
        wait_until(
            lambda: "started (concurrency" in (tmp_path / "old-worker.log").read_text(),
            60,
            "old worker",
        )
        store = open_store(url)
        try:
            assert store.pending_migrations(), "the old release lacks the newest migration"
            # the old release's client triggers it
            old_trigger = run_cli("trigger", "churn", '{"n": 1}', *argv[4:], cwd=tmp_path, env=env)
            before = ok(old_trigger).strip()
            wait_until(lambda: _status(store, before) is RunStatus.COMPLETED, 60, "the old run")
        finally:
            store.close()
        # Deploy step one: the new release migrates while the old worker runs.
        applied = ok(run_cli("migrate", "--app", APP, "--database-url", url, cwd=tmp_path))
        assert "applied" in applied
        new = make_app(url)
        assert new.store.pending_migrations() == []
        runs = [new.trigger("churn", {"n": n}).id for n in range(2, 12)]
        event = new.send_event("order.placed", {"order_id": "o9", "amount": 9})
        for run_id in [*runs, *event.run_ids]:
            wait_until(lambda r=run_id: new.get_run(r).status is RunStatus.COMPLETED, 60, run_id)  # type: ignore[misc]
        assert new.get_run(runs[0]).result["last"] == {"n": 2, "step": "last"}
        new.close()
        assert old_worker.poll() is None, (tmp_path / "old-worker.log").read_text()
    finally:
        old_worker.kill()
        old_worker.wait(30)
        log.close()
    assert "Traceback" not in (tmp_path / "old-worker.log").read_text()
