"""``tidings tokens list|complete|answer`` against a real worker process (issue 16)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.test_cli import Cli, _assert_clean_failure
from tidings import RunStatus, Tidings


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


def test_tokens_complete_resumes_the_run_once(cli: Cli) -> None:
    run_id = cli.ok("trigger", "approval").strip()
    with cli.worker():
        cli.wait_for(run_id, RunStatus.WAITING)
        listed = cli.json("tokens", "list")
        (token,) = listed["tokens"]
        assert (token["run_id"], token["name"]) == (run_id, "approval")
        assert listed["questions"] == []
        human = cli.ok("tokens", "list")
        assert human.startswith(f"{token['id']}  run {run_id}  expires ")
        assert human.rstrip().endswith("approval")
        out = cli.ok("tokens", "complete", token["id"], "--data", '{"approved": true}')
        assert out.strip() == f"completed {token['id']}"
        cli.wait_for(run_id, RunStatus.COMPLETED)
        again = cli("tokens", "complete", token["id"], "--data", "1")
        assert again.returncode == 1
        assert "already completed or has expired" in again.stderr
    app = Tidings(cli.db)
    try:
        assert app.get_run(run_id).result == {"approved": True}
    finally:
        app.close()
    _assert_clean_failure(cli("tokens", "complete", "wtk_nope"), "no wait token with id 'wtk_nope'")
    _assert_clean_failure(cli("tokens", "complete", token["id"], "--data", "{nope"), "--data")
    _assert_clean_failure(cli("tokens", "answer", "qst_nope", "accept"), "no question")
