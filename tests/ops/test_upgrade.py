"""Rolling upgrades: a migration declared compatible works for the release before it.

Two kinds of proof. Statically, every migration declaring ``-- compatible: yes`` is
additive (parsed from the files of both backends): no table or column is dropped or
renamed, no type changes, a new column is nullable or has a default, no new constraint
or unique index lands on a table an earlier release wrote to. Dynamically, a worker
running the previous release's code (checked out of git from before the newest
migration) keeps running runs after the current code has migrated the database under
it, and then the same worker restarted on the migrated database (a pod restarting
mid-deploy) starts again if that release already reads the compatibility records
(0014 and later), or is refused with a clear message if it predates them.

How this release itself behaves on a database a newer release migrated is proven on
both stores in tests/contract/test_rolling_upgrade.py.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable
from functools import partial
from io import BytesIO
from pathlib import Path

import pytest

from tidings import RunStatus, Tidings
from tidings.store import Store, open_store
from tidings.store.queries import load_migrations, migration_compatible

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


def declaration_problems(migrations: list[tuple[str, str]]) -> list[str]:
    """Migrations declaring ``-- compatible: yes`` that the additive checker disagrees with.

    ``no`` is always allowed: a change can break the previous release in ways no parser
    sees (a column's meaning, a new status value), and saying so only costs a stricter
    deploy.
    """
    problems = []
    found = breaking_changes(migrations)
    for index, (name, script) in enumerate(migrations):
        if not migration_compatible(name, script):
            continue
        if index == 0:
            problems.append(f"{name}: the first migration has no earlier release to suit")
        problems += [
            f"declares compatible: yes but {problem}"
            for problem in found
            if problem.startswith(f"{name}: ")
        ]
    return problems


@pytest.mark.parametrize("package", BACKENDS)
def test_every_migration_declared_compatible_is_additive(package: str) -> None:
    migrations = load_migrations(package)
    assert len(migrations) > 1
    assert declaration_problems(migrations) == []
    declared = [migration_compatible(name, script) for name, script in migrations]
    # both backends declare alike: one release, one rolling-deploy rule
    other = BACKENDS[1 - BACKENDS.index(package)]
    assert declared == [migration_compatible(n, s) for n, s in load_migrations(other)]


def test_the_declarations_must_agree_with_the_checker() -> None:
    first = ("0001_initial", "-- compatible: no\nCREATE TABLE runs (id TEXT, status TEXT);")
    fine = "ALTER TABLE runs ADD COLUMN note TEXT;"
    breaking = "ALTER TABLE runs DROP COLUMN status;"
    assert declaration_problems([first, ("0002_next", f"-- compatible: yes\n{fine}")]) == []
    # an incompatible change declared as such is allowed: it is deployed in two steps
    assert declaration_problems([first, ("0002_next", f"-- compatible: no\n{breaking}")]) == []
    # so is a conservative "no" on an additive change
    assert declaration_problems([first, ("0002_next", f"-- compatible: no\n{fine}")]) == []
    wrong = declaration_problems([first, ("0002_next", f"-- compatible: yes\n{breaking}")])
    assert len(wrong) == 1
    assert "0002_next: drops" in wrong[0]
    assert "declares compatible: yes" in wrong[0]
    first_yes = ("0001_initial", first[1].replace("no", "yes", 1))
    assert "first migration" in declaration_problems([first_yes])[0]
    for header in ["", "-- compatible: maybe\n", "-- compatible: yes\n-- compatible: no\n"]:
        with pytest.raises(RuntimeError, match="0002_next must declare exactly one"):
            migration_compatible("0002_next", f"{header}{fine}")


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
    run = store.runs.get(run_id, steps=False)
    return run.status if run else None


def _done(app: Tidings, run_id: str) -> bool:
    return app.get_run(run_id).status is RunStatus.COMPLETED


def _start(argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[str]:
    with log.open("w") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [*argv, "--poll-interval", "0.1"],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )


def _restart_expectation(old_src: Path) -> tuple[bool, list[str]]:
    """Whether the previous release may restart on today's schema, and what it lacks."""
    old_names = {
        p.stem
        for p in (old_src / "tidings/store/sqlite/migrations").iterdir()
        if p.suffix == ".sql"
    }
    unknown = [(n, s) for n, s in load_migrations("tidings.store.sqlite") if n not in old_names]
    # releases before 0014 read no compatibility records: any unknown migration stops them
    reads_records = "-- compatible:" in (
        old_src / "tidings/store/sqlite/migrations/0001_initial.sql"
    ).read_text(encoding="utf-8")
    accepted = reads_records and all(migration_compatible(n, s) for n, s in unknown)
    return accepted, [n for n, _ in unknown]


def test_a_worker_of_the_previous_release_keeps_working_after_migrating(
    new_url: Callable[[], str], tmp_path: Path
) -> None:
    old_src = _previous_release(tmp_path)
    url = new_url()
    env = cli_env()
    env["PYTHONPATH"] = f"{old_src}:{HERE}"  # the old tidings, today's test app
    first_log, restart_log = tmp_path / "old-worker.log", tmp_path / "old-worker-restarted.log"
    argv = [sys.executable, "-m", "tidings.cli", "worker", "--app", APP, "--database-url", url]
    old_worker = _start(argv, env, tmp_path, first_log)
    restarted: subprocess.Popen[str] | None = None
    try:
        # The old worker creates the schema its release knows, and runs a run on it.
        wait_until(lambda: "started (concurrency" in first_log.read_text(), 60, "old worker")
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
        try:
            assert new.store.pending_migrations() == []
            runs = [new.trigger("churn", {"n": n}).id for n in range(2, 12)]
            event = new.send_event("order.placed", {"order_id": "o9", "amount": 9})
            for run_id in [*runs, *event.run_ids]:
                wait_until(partial(_done, new, run_id), 60, run_id)
            assert new.get_run(runs[0]).result["last"] == {"n": 2, "step": "last"}
            assert old_worker.poll() is None, first_log.read_text()

            # Mid-deploy the old worker's pod restarts, on the migrated database.
            old_worker.kill()
            old_worker.wait(30)
            accepted, unknown = _restart_expectation(old_src)
            restarted = _start(argv, env, tmp_path, restart_log)
            if accepted:
                wait_until(lambda: "started (concurrency" in restart_log.read_text(), 60, "restart")
                again = new.trigger("churn", {"n": 20}).id
                wait_until(partial(_done, new, again), 60, again)
                assert restarted.poll() is None, restart_log.read_text()
            else:
                # A release before 0014 cannot tell a compatible migration from another:
                # it refuses the database, plainly, and exits.
                assert restarted.wait(60) != 0
                text = restart_log.read_text()
                assert "migrated by a newer tidings" in text
                assert all(name in text for name in unknown), (unknown, text)
                assert "Traceback" not in text
        finally:
            new.close()
    finally:
        for proc in (old_worker, restarted):
            if proc is not None:
                proc.kill()
                proc.wait(30)
    assert "Traceback" not in first_log.read_text()
