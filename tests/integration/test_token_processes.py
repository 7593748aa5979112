"""A wait token completed while real worker processes run (issue 16): the worker that
resumed the run is SIGKILLed before the run finishes, and another resumes it once."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tidings import Tidings
from tidings.records import RunStatus

from .conftest import Workers, effects, wait_for_status, wait_until

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest) -> tuple[Tidings, Workers]:
    if request.param == "sqlite":
        return request.getfixturevalue("app"), request.getfixturevalue("workers")
    env = request.getfixturevalue("pg")
    return env.app, request.getfixturevalue("pg_workers")


def _lines(out: Path, run_id: str) -> list[tuple[str, int]]:
    return [(what, pid) for r, what, pid in effects(out) if r == run_id]


def test_a_worker_killed_between_the_answer_and_the_resume_resumes_once(
    store: tuple[Tidings, Workers], out_file: Path, tmp_path: Path
) -> None:
    app, workers = store
    release = tmp_path / "release"
    a = workers.start(concurrency=2, lease=1.5)
    run_id = app.trigger("token-waiter", {"out": str(out_file), "release": str(release)}).id

    def token_id() -> str | None:
        found = [w for w, _ in _lines(out_file, run_id) if w.startswith("token:")]
        return found[0].removeprefix("token:") if found else None

    wait_until(lambda: token_id() is not None, 30, "the token to be announced")
    wait_for_status(app, run_id, RunStatus.WAITING, timeout=30)
    token = token_id()
    assert token is not None
    assert app.complete_token(token, {"approved": True}) is True
    # A picks the resumed run up at once (a push wake-up, not its lease) and is killed
    wait_until(lambda: ("resume-start", a.pid) in _lines(out_file, run_id), 30, "A to resume")
    a.signal(signal.SIGKILL)
    assert a.wait_exit(10) == -signal.SIGKILL
    release.touch()

    b = workers.start(concurrency=2, lease=1.5)
    run = wait_for_status(app, run_id, RunStatus.COMPLETED, timeout=30)
    assert run.result == {"approved": True}
    lines = _lines(out_file, run_id)
    assert sum(1 for w, _ in lines if w.startswith("token:")) == 1, "one token, memoized"
    assert [pid for w, pid in lines if w == "resume-end"] == [b.pid]
    waits = [s for s in run.steps if s.kind == "wait_for_token"]
    assert [(s.status, s.attempts) for s in waits] == [("completed", 1)]
    assert app.complete_token(token, {"approved": False}) is False
