"""``tidings runs cancel|replay`` by filter (bulk actions) and ``runs replay --from-step``,
run for real in subprocesses against a temporary SQLite file."""

from __future__ import annotations

import pytest

from tidings import RunStatus

from .cliapp import app
from .test_cli import Cli, _assert_clean_failure, cli

__all__ = ["cli"]

pytestmark = pytest.mark.timeout(300)  # each command is a fresh interpreter


def _queued(cli: Cli, n: int) -> list[str]:
    """``n`` delayed runs of ``greet``, made in this process (faster than n commands)."""
    app.configure(database_url=cli.db)
    try:
        payloads = [{"name": f"Ada{i}"} for i in range(n)]
        return [h.id for h in app.trigger_many("greet", payloads, delay=3600)]
    finally:
        app.close()


def test_bulk_cancel_asks_refuses_off_a_terminal_then_cancels_with_yes(cli: Cli) -> None:
    ids = _queued(cli, 3)
    refused = cli("runs", "cancel", "--task", "greet")
    _assert_clean_failure(refused, "refusing to cancel 3 runs without --yes")
    assert {cli.status(r) for r in ids} == {RunStatus.QUEUED}

    with cli.worker():
        done = cli("runs", "cancel", "--task", "greet", "--status", "queued", "--yes", timeout=60)
    assert done.returncode == 0, done.stderr
    assert "cancelled 3 of 3 runs gone through" in done.stdout
    assert "3/3" in done.stderr  # the progress bar's last state
    assert {cli.status(r) for r in ids} == {RunStatus.CANCELLED}

    (action,) = cli.json("runs", "bulk")
    assert (action["kind"], action["status"], action["changed"]) == ("cancel", "completed", 3)
    assert cli.json("runs", "bulk", action["id"])["progress"] == 1.0


def test_bulk_replay_with_no_wait_prints_the_action_and_a_filter_matching_nothing(
    cli: Cli,
) -> None:
    ids = _queued(cli, 2)
    for r in ids:
        cli.ok("runs", "cancel", r)
    started = cli.json("runs", "replay", "--status", "cancelled", "--yes", "--no-wait")
    assert (started["kind"], started["total"], started["status"]) == ("replay", 2, "running")
    with cli.worker():
        followed = cli.json("runs", "bulk", started["id"], "--follow", timeout=60)
    assert (followed["done"], followed["changed"], followed["status"]) == (2, 2, "completed")
    runs = cli.json("runs", "list", "--limit", "10")
    assert sorted(r["replay_of"] for r in runs if r["replay_of"]) == sorted(ids)

    nothing = cli.ok("runs", "cancel", "--tag", "no-such-tag")
    assert "no run matches this filter: nothing to cancel" in nothing


def test_replay_from_a_step(cli: Cli) -> None:
    with cli.worker():
        run_id = cli.ok("trigger", "greet", '{"name": "Ada"}', "--wait", timeout=60)
    source = cli.json("runs", "list", "--limit", "1")[0]["id"]
    assert run_id  # the result was printed
    new_id = cli.ok("runs", "replay", source, "--from-step", "deliver").strip()
    replayed = cli.json("runs", "show", new_id)
    assert replayed["replay_of"] == source
    assert [s["name"] for s in replayed["steps"]] == ["build-greeting"]
    assert replayed["steps"][0]["result"] == "hello Ada"
    other = cli.json(
        "runs", "replay", source, "--from-step", "deliver", "--payload", '{"name": "Bo"}'
    )
    assert other["payload"] == {"name": "Bo"}

    unknown = cli("runs", "replay", source, "--from-step", "nope")
    _assert_clean_failure(unknown, "has no step 'nope'")
    assert "'build-greeting', 'deliver'" in unknown.stderr


def test_bulk_bad_input_is_one_error_line(cli: Cli) -> None:
    _queued(cli, 1)
    cases = [
        (("runs", "cancel", "--status", "completed", "--yes"), "only queued, running or waiting"),
        (("runs", "replay", "--status", "sideways", "--yes"), "unknown run status 'sideways'"),
        (("runs", "cancel", "--task", "gret", "--yes"), "unknown task 'gret'"),
        (("runs", "bulk", "blk_missing"), "no bulk action with id 'blk_missing'"),
    ]
    for args, message in cases:
        _assert_clean_failure(cli(*args), message)
    for args in (
        ("runs", "cancel"),  # neither a run nor a filter
        ("runs", "cancel", "run_x", "--task", "greet"),
        ("runs", "replay", "--task", "greet", "--from-step", "deliver"),
        ("runs", "cancel", "--created-after", "2026-03-01T09:00", "--yes"),
    ):
        result = cli(*args)
        assert result.returncode == 2, result
        assert "Traceback" not in result.stderr
