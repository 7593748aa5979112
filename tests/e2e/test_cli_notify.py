"""``tidings notify`` for real in subprocesses: one recipient, a list, a topic with its
progress bar, and bad input."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.e2e.test_cli import Cli, _env
from tidings import Tidings

APP = "notifycliapp:app"


def _people(db: str, n: int) -> None:
    app = Tidings(db)
    try:
        for i in range(n):
            app.recipients.upsert(f"u{i:03d}", email=f"u{i:03d}@example.com")
        app.topics.subscribe("team", [f"u{i:03d}" for i in range(n)])
    finally:
        app.close()


def test_notify_one_a_list_and_a_topic_with_progress(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    Tidings(cli.db).migrate()
    _people(cli.db, 30)
    argv = cli.argv(("worker", "--poll-interval", "0.1"), APP, cli.db)
    with (tmp_path / "worker.log").open("w") as log:
        worker = subprocess.Popen(argv, cwd=tmp_path, env=_env(), stdout=log,
                                  stderr=subprocess.STDOUT, text=True)  # fmt: skip
        try:
            one = cli.ok("notify", "alert", "--to", "u000", "--data", '{"name": "An"}', app=APP)
            listed = cli(
                "notify", "alert", "--to", "u001", "--to", "u002", "--to", "u001",
                "--data", '{"name": "An"}', app=APP,
            )  # fmt: skip
            topic = cli("notify", "alert", "--topic", "team", "--data", '{"name": "An"}', app=APP)
        finally:
            worker.kill()
            worker.wait(30)
    assert one.strip().startswith("run_")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].startswith("bct_")
    assert json.loads("\n".join(lines[1:]))["routed"] == 2
    assert topic.returncode == 0, topic.stderr
    assert "routing" in topic.stderr  # the progress bar
    assert "30/30" in topic.stderr
    done = json.loads("\n".join(topic.stdout.splitlines()[1:]))
    assert (done["total"], done["routed"], done["topic"]) == (30, 30, "team")
    assert "Traceback" not in (tmp_path / "worker.log").read_text()


def test_notify_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    _people(cli.db, 1)
    both = cli("notify", "alert", "--to", "u000", "--topic", "team", app=APP)
    neither = cli("notify", "alert", app=APP)
    ghost = cli("notify", "alert", "--to", "u000", "--to", "ghost", "--data", "{}", app=APP)
    bad_json = cli("notify", "alert", "--topic", "team", "--data", "{nope", app=APP)
    for result in (both, neither, ghost, bad_json):
        assert result.returncode != 0
        assert "Traceback" not in result.stderr
    assert "--topic" in both.stderr
    assert "'ghost'" in ghost.stderr
    assert "--data" in bad_json.stderr
