"""The ``tidings`` command, run for real in subprocesses against a temporary SQLite file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tidings import RunStatus, Tidings

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
APP = "cliapp:app"  # tests/e2e/cliapp.py, put on PYTHONPATH below


def _env(**extra: str) -> dict[str, str]:
    # The developer's own TIDINGS_* settings must not leak into the commands under test.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(ROOT)])  # cliapp and examples
    env["COLUMNS"] = "200"
    env.update(extra)
    return env


class Cli:
    """Runs ``python -m tidings.cli`` in ``cwd`` against one database."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.db = f"sqlite:///{cwd / 'runs.db'}"

    def argv(self, args: tuple[str, ...], app: str | None, db: str | None) -> list[str]:
        argv = [sys.executable, "-m", "tidings.cli", *args]
        if app is not None:
            argv += ["--app", app]
        if db is not None:
            argv += ["--database-url", db]
        return argv

    def __call__(
        self,
        *args: str,
        app: str | None = APP,
        db: str | None = "default",
        env: dict[str, str] | None = None,
        input: str = "",
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(args, app, self.db if db == "default" else db),
            cwd=self.cwd,
            env=env or _env(),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def ok(self, *args: str, **options: Any) -> str:
        result = self(*args, **options)
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        return result.stdout

    def json(self, *args: str, **options: Any) -> Any:
        return json.loads(self.ok(*args, "--json", **options))

    def status(self, run_id: str) -> RunStatus:
        app = Tidings(self.db)
        try:
            return app.get_run(run_id).status
        finally:
            app.close()

    def wait_for(self, run_id: str, status: RunStatus, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while (current := self.status(run_id)) is not status:
            assert time.monotonic() < deadline, f"run {run_id} is {current}, not {status}"
            time.sleep(0.05)

    @contextmanager
    def worker(self, command: str = "worker", *flags: str) -> Iterator[subprocess.Popen[str]]:
        # Create the database before two processes race to: two processes opening one
        # fresh SQLite file at once can fail to switch it to WAL ("database is locked").
        Tidings(self.db).migrate()
        argv = self.argv((command, "--poll-interval", "0.1", *flags), APP, self.db)
        with (self.cwd / f"{command}.log").open("w") as log:
            proc = subprocess.Popen(
                argv, cwd=self.cwd, env=_env(), stdout=log, stderr=subprocess.STDOUT, text=True
            )
            try:
                yield proc
            finally:
                if proc.poll() is None:
                    proc.kill()
                proc.wait(timeout=30)

    def log(self, command: str = "worker") -> str:
        return (self.cwd / f"{command}.log").read_text()


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


def _stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=40)


# -- worker ----------------------------------------------------------------------------
WORKER_FLAGS = ("--concurrency", "2", "--queue", "default", "--lease-seconds", "5")


@pytest.mark.parametrize("command", ["worker", "dev"])
def test_worker_runs_due_runs_and_drains_on_sigterm(cli: Cli, command: str) -> None:
    greet = cli.ok("trigger", "greet", '{"name": "Ada"}').strip()
    slow = cli.ok("trigger", "slow").strip()
    api = ("--port", "0") if command == "dev" else ()  # dev serves the API: any free port
    with cli.worker(command, *WORKER_FLAGS, *api) as proc:
        cli.wait_for(greet, RunStatus.COMPLETED)
        cli.wait_for(slow, RunStatus.RUNNING)
        # SIGTERM in the middle of a step: the worker finishes it before exiting.
        assert _stop(proc) == 0
    assert cli.status(slow) is RunStatus.COMPLETED
    log = cli.log(command)
    assert f"tidings {command} " in log
    assert "concurrency 2 · queues default" in log
    assert "greeting Ada" in log  # ctx.logger lines reach the worker's log
    assert "Traceback" not in log


def test_trigger_wait_prints_the_result_or_the_error(cli: Cli) -> None:
    with cli.worker() as proc:
        done = cli("trigger", "greet", '{"name": "Ada"}', "--wait", "--timeout", "30")
        assert done.returncode == 0, done.stderr
        run_id, *rest = done.stdout.splitlines()
        assert json.loads("\n".join(rest)) == {"greeting": "hello Ada"}

        failed = cli("trigger", "doomed", "--wait", "--timeout", "30")
        assert failed.returncode == 1
        assert "error: run run_" in failed.stderr
        assert "NonRetriableError: card declined" in failed.stderr
        assert "Traceback" not in failed.stderr
        assert _stop(proc) == 0

    shown = cli.json("runs", "show", run_id)
    assert shown["status"] == "COMPLETED"
    assert shown["result"] == {"greeting": "hello Ada"}
    assert [s["name"] for s in shown["steps"]] == ["build-greeting", "deliver"]
    assert [line["message"] for line in shown["logs"]] == ["greeting Ada"]

    human = cli.ok("runs", "show", run_id)
    assert "build-greeting" in human
    assert "greeting Ada" in human


def test_trigger_wait_gives_up_after_timeout(cli: Cli) -> None:
    result = cli("trigger", "greet", '{"name": "Ada"}', "--wait", "--timeout", "0.5")
    assert result.returncode == 1
    assert "did not finish within 0.5s; it is still QUEUED" in result.stderr
    assert "Traceback" not in result.stderr


def test_trigger_options(cli: Cli) -> None:
    first = cli.ok("trigger", "greet", '{"name": "Ada"}', "--idempotency-key", "k1").strip()
    again = cli("trigger", "greet", '{"name": "Ada"}', "--idempotency-key", "k1")
    assert again.stdout.strip() == first
    assert "existing run" in again.stderr
    piped = cli.ok("trigger", "greet", "-", "--delay", "60", input='{"name": "Bo"}').strip()
    assert piped != first
    assert cli.json("runs", "show", piped)["payload"] == {"name": "Bo"}


def test_runs_list_filters_and_prints_json_or_a_table(cli: Cli) -> None:
    ids = [cli.ok("trigger", "greet", json.dumps({"name": n})).strip() for n in ("a", "b")]
    napper = cli.ok("trigger", "napper").strip()

    listed = cli.json("runs", "list")
    assert [r["id"] for r in listed] == [napper, *reversed(ids)]  # newest first
    assert {r["status"] for r in listed} == {"QUEUED"}
    assert "steps" not in listed[0]

    assert [r["id"] for r in cli.json("runs", "list", "--task", "napper")] == [napper]
    assert len(cli.json("runs", "list", "--limit", "2")) == 2
    assert cli.json("runs", "list", "--status", "completed") == []

    table = cli.ok("runs", "list")
    assert all(run_id in table for run_id in [*ids, napper])
    assert "QUEUED" in table


def test_cancel_and_replay(cli: Cli) -> None:
    run_id = cli.ok("trigger", "greet", '{"name": "Ada"}', "--delay", "3600").strip()
    assert "CANCELLED" in cli.ok("runs", "cancel", run_id)
    assert cli.json("runs", "show", run_id)["status"] == "CANCELLED"
    assert "already finished" in cli.ok("runs", "cancel", run_id)

    new_id = cli.ok("runs", "replay", run_id).strip()
    assert new_id.startswith("run_")
    assert new_id != run_id
    replayed = cli.json("runs", "show", new_id)
    assert replayed["status"] == "QUEUED"
    assert replayed["payload"] == {"name": "Ada"}
    assert replayed["replay_of"] == run_id


def test_runs_watch_until_idle(cli: Cli) -> None:
    run_id = cli.ok("trigger", "napper").strip()
    with cli.worker() as proc:
        watched = cli.ok("runs", "watch", "--until-idle", timeout=30)
        assert _stop(proc) == 0
    assert run_id in watched
    assert "COMPLETED" in watched


def test_migrate(cli: Cli) -> None:
    assert "applied 0001_initial" in cli.ok("migrate")
    assert "already up to date" in cli.ok("migrate")


# -- configuration ---------------------------------------------------------------------
def test_app_and_database_from_tidings_toml(cli: Cli) -> None:
    (cli.cwd / "tidings.toml").write_text(f'[tidings]\napp = "{APP}"\ndatabase_url = "{cli.db}"\n')
    run_id = cli.ok("trigger", "greet", '{"name": "Ada"}', app=None, db=None).strip()
    assert cli.status(run_id) is RunStatus.QUEUED
    # flags beat the file: another database has no such run
    other = cli("runs", "show", run_id, app=None, db=f"sqlite:///{cli.cwd / 'other.db'}")
    assert other.returncode == 1
    assert "no run with id" in other.stderr


def test_app_and_database_from_environment(cli: Cli) -> None:
    env = _env(TIDINGS_APP=APP, TIDINGS_DATABASE_URL=cli.db)
    run_id = cli.ok("trigger", "greet", '{"name": "Ada"}', app=None, db=None, env=env).strip()
    assert cli.status(run_id) is RunStatus.QUEUED


def test_env_flag_selects_that_environments_database(cli: Cli) -> None:
    cli.ok("trigger", "greet", '{"name": "Ada"}', "--env", "staging", db=None)
    assert (cli.cwd / ".tidings" / "staging.db").exists()
    assert not (cli.cwd / ".tidings" / "dev.db").exists()


# -- user errors: one red line, exit code 1 or 2, never a traceback --------------------
BAD_INPUTS = [
    pytest.param(("trigger", "nope"), {}, "unknown task 'nope'", id="unknown-task"),
    pytest.param(("trigger", "greet", "{oops"), {}, "is not valid JSON", id="bad-json"),
    pytest.param(("runs", "show", "run_missing"), {}, "no run with id", id="unknown-run"),
    pytest.param(("runs", "cancel", "run_missing"), {}, "no run with id", id="cancel-unknown"),
    pytest.param(("runs", "replay", "run_missing"), {}, "no run with id", id="replay-unknown"),
    pytest.param(("runs", "list", "--status", "sideways"), {}, "unknown run status", id="status"),
    pytest.param(
        ("runs", "list"),
        {"app": "no_such_module:app"},
        "module 'no_such_module' not found",
        id="no-module",
    ),
    pytest.param(
        ("runs", "list"), {"app": "cliapp:missing"}, "has no attribute 'missing'", id="no-attr"
    ),
    pytest.param(
        ("runs", "list"), {"app": "cliapp:not_an_app"}, "not a tidings.Tidings app", id="not-app"
    ),
    pytest.param(("runs", "list"), {"app": "cliapp"}, "module:attribute", id="no-colon"),
    pytest.param(("runs", "list"), {"app": None}, "no app given", id="no-app"),
    pytest.param(("runs", "list", "--env", "Bad Env"), {}, "environment name", id="bad-env"),
    pytest.param(
        ("runs", "list"), {"db": "mysql://db/x"}, "unsupported database URL", id="bad-url"
    ),
    pytest.param(("worker", "--concurrency", "0"), {}, "", id="usage-error"),
]


def _assert_clean_failure(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert result.returncode in (1, 2), result
    assert "Traceback" not in result.stdout + result.stderr
    if result.returncode == 1:  # ours; 2 is a usage error reported by typer
        errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1, result.stderr
        assert message in errors[0]


@pytest.mark.parametrize(("args", "options", "message"), BAD_INPUTS)
def test_bad_input_is_one_error_line(
    cli: Cli, args: tuple[str, ...], options: dict[str, Any], message: str
) -> None:
    _assert_clean_failure(cli(*args, **options), message)


@pytest.mark.parametrize("command", [("runs", "list"), ("migrate",), ("worker",)])
def test_a_file_that_is_not_sqlite_is_refused(cli: Cli, command: tuple[str, ...]) -> None:
    notes = cli.cwd / "notes.db"
    notes.write_text("my precious notes\n")
    result = cli(*command, db=f"sqlite:///{notes}", timeout=30)
    _assert_clean_failure(result, "is not a SQLite database")
    assert notes.read_text() == "my precious notes\n"


def test_broken_tidings_toml(cli: Cli) -> None:
    (cli.cwd / "tidings.toml").write_text("[tidings\napp = 1\n")
    _assert_clean_failure(cli("runs", "list", app=None), "is not valid TOML")
    (cli.cwd / "tidings.toml").write_text('[tidings]\napp = "cliapp:app"\ndatabse_url = "x"\n')
    _assert_clean_failure(cli("runs", "list", app=None), "databse_url")


def test_app_module_that_fails_to_import(cli: Cli) -> None:
    (cli.cwd / "broken_app.py").write_text("import no_such_dependency\n")
    result = cli("runs", "list", app="broken_app:app")
    _assert_clean_failure(result, "importing 'broken_app' failed")
    assert "no_such_dependency" in result.stderr


def test_events_send_starts_listening_tasks_once_per_id(cli: Cli) -> None:
    sent = cli.json("events", "send", "user.registered", '{"userId": "u1"}', "--id", "e1")
    assert sent["accepted"] is True
    [run_id] = sent["run_ids"]
    assert cli.json("runs", "show", run_id)["payload"] == {"userId": "u1"}

    again = cli("events", "send", "user.registered", '{"userId": "u1"}', "--id", "e1")
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == sent["event_id"]
    assert "sent before" in again.stderr

    nobody = cli("events", "send", "nobody.listens")
    assert nobody.returncode == 0
    assert "started run" not in nobody.stderr


def test_events_send_rejects_bad_json_without_a_traceback(cli: Cli) -> None:
    bad = cli("events", "send", "user.registered", "{oops")
    assert bad.returncode != 0
    assert "DATA_JSON is not valid JSON" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert cli.json("runs", "list") == []
