"""What a newcomer sees from the command line: the worker's line per run outcome,
``runs list`` without tidings' own runs, help without sentences cut in two, a warning for
an event nothing listens for, and the demo's restart hint naming ``make demo``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.test_cli import Cli, _env, _stop
from tidings import RunStatus, Tidings
from tidings.demo.state import DemoPaths, restart_command, tidings_command


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


def test_the_worker_logs_each_run_outcome_in_one_line(cli: Cli) -> None:
    greet = cli.ok("trigger", "greet", '{"name": "Ada"}').strip()
    doomed = cli.ok("trigger", "doomed").strip()
    with cli.worker() as proc:
        cli.wait_for(greet, RunStatus.COMPLETED)
        cli.wait_for(doomed, RunStatus.FAILED)
        assert _stop(proc) == 0
    log = cli.log()
    assert f"run {greet} (greet) completed (attempt 1)" in log
    line = next(x for x in log.splitlines() if f"run {doomed} (doomed) failed" in x)
    assert line.endswith("failed on attempt 1: NonRetriableError: card declined")
    assert "WARNING" in line  # not on a terminal: level and logger name on each line


def test_runs_list_leaves_out_tidings_own_runs_unless_all(cli: Cli) -> None:
    app = Tidings(cli.db)
    try:
        app.notification_type("hello", channels=("in_app",))
        app.recipients.upsert("u1")
        app.notify("hello", to="u1", data={})  # queues a tidings.* run
        internal = {r.task_id for r in app.list_runs()}
    finally:
        app.close()
    assert internal
    assert all(t.startswith("tidings.") for t in internal)
    mine = cli.ok("trigger", "greet", '{"name": "Ada"}').strip()
    listed = cli.json("runs", "list")
    assert [r["id"] for r in listed] == [mine]
    every = cli.json("runs", "list", "--all")
    assert {r["task_id"] for r in every} == internal | {"greet"}
    named = cli.json("runs", "list", "--task", next(iter(internal)))
    assert named
    assert all(r["task_id"].startswith("tidings.") for r in named)


def test_help_keeps_each_sentence_on_one_line(cli: Cli) -> None:
    wide = _env(COLUMNS="200")
    top = cli("--help", app=None, db=None, env=wide).stdout
    for command in ("dev", "backup", "restore", "doctor", "demo"):
        line = next(x for x in top.splitlines() if re.match(rf"│ {command}\s", x))
        # the summary is on its own line in full: the next line is another command
        assert line.rstrip(" │").endswith((".", ")")), line
    dev = cli("dev", "--help", app=None, db=None, env=wide).stdout
    assert "recent runs (plain log lines when not on a terminal)." in dev


def test_an_event_nothing_listens_for_prints_a_warning(cli: Cli) -> None:
    heard = cli("events", "send", "user.registered", '{"userId": "u1"}')
    unheard = cli("events", "send", "user.registred", '{"userId": "u1"}')
    assert heard.returncode == 0
    assert "warning" not in heard.stderr
    assert unheard.returncode == 0
    assert "warning: nothing listens for event 'user.registred'" in " ".join(unheard.stderr.split())
    as_json = cli.json("events", "send", "nobody.cares")
    assert as_json["run_ids"] == []
    assert "nothing listens" in as_json["warning"]


def test_the_demo_names_the_command_that_started_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TIDINGS_DEMO_LAUNCHER", raising=False)
    assert restart_command() == "`tidings demo`"
    assert restart_command("--reset") == "`tidings demo --reset`"
    assert tidings_command() == "tidings"
    monkeypatch.setenv("TIDINGS_DEMO_LAUNCHER", "make")
    assert restart_command() == "`make demo`"
    assert restart_command("--reset") == "`make demo DEMO_ARGS=--reset`"
    assert tidings_command() == ".venv/bin/tidings"
    assert DemoPaths(Path(".tidings")).links == Path(".tidings/demo-links.txt")


def test_the_makefile_tells_the_demo_it_started_it() -> None:
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    assert "TIDINGS_DEMO_LAUNCHER=make $(BIN)/tidings demo" in makefile
