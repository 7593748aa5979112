"""Real worker processes sharing one SQLite file: crashes, hangs, signals and scale.

Nothing is mocked: each worker is ``python -m tests.integration.workerapp`` and the test
process triggers, cancels and inspects runs through the client API on the same file.
Side effects are lines appended to a file (see ``workerapp.append``), so "ran exactly
once" is checked against what really happened, not against what the engine recorded.
"""

from __future__ import annotations

import collections
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tidings import Tidings
from tidings.records import RunStatus

from .conftest import Workers, effect_count, effects, wait_for_status, wait_until
from .workerapp import crashable, hangs, sleep_then_retry, slow_step, three_steps

pytestmark = pytest.mark.timeout(120)


def steps_by_name(app: Tidings, run_id: str) -> dict[str, tuple[str, int]]:
    return {s.name: (s.status, s.attempts) for s in app.get_run(run_id).steps}


def test_sigkill_mid_step_resumes_on_another_worker(
    app: Tidings, workers: Workers, out_file: Path, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    a = workers.start(concurrency=2, lease=1.5)
    run_id = app.trigger(crashable, {"out": str(out_file), "release": str(release)}).id

    wait_until(lambda: effect_count(out_file, run_id, "two-start") == 1, 30, "step two to start")
    assert app.get_run(run_id).status is RunStatus.RUNNING
    a.signal(signal.SIGKILL)
    assert a.wait_exit(10) == -signal.SIGKILL
    release.touch()

    b = workers.start(concurrency=2, lease=1.5)
    run = wait_for_status(app, run_id, RunStatus.COMPLETED, timeout=30)

    lines = [(what, pid) for r, what, pid in effects(out_file) if r == run_id]
    assert lines.count(("one", a.pid)) == 1
    assert sum(1 for what, _ in lines if what == "one") == 1, "step one must not re-run"
    # two was interrupted by the kill, so it ran again on B: at most twice in total
    starts = [pid for what, pid in lines if what == "two-start"]
    assert starts == [a.pid, b.pid]
    assert [pid for what, pid in lines if what == "two-end"] == [b.pid]
    # one's memoized result (A's pid) crossed the crash; two's result is B's
    assert run.result == {"one": a.pid, "two": b.pid}
    assert steps_by_name(app, run_id) == {"one": ("completed", 1), "two": ("completed", 1)}
    assert [s.result for s in run.steps] == [a.pid, b.pid]


def test_completed_steps_survive_sleep_and_retry_across_processes(
    app: Tidings, workers: Workers, out_file: Path
) -> None:
    pool = [workers.start(concurrency=4, lease=5), workers.start(concurrency=4, lease=5)]
    run_id = app.trigger(sleep_then_retry, {"out": str(out_file)}).id

    run = wait_for_status(app, run_id, RunStatus.COMPLETED, timeout=30)

    counts = collections.Counter(what for r, what, _ in effects(out_file) if r == run_id)
    assert counts == {"a": 1, "b": 2, "c": 1}
    assert run.attempt == 2
    assert steps_by_name(app, run_id) == {
        "a": ("completed", 1),
        "sleep": ("completed", 1),
        "b": ("completed", 2),
        "c": ("completed", 1),
    }
    assert set(run.result) <= {w.pid for w in pool}


@pytest.mark.timeout(420)
def test_scale_three_workers_two_thousand_runs(
    app: Tidings, workers: Workers, out_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    n_runs, concurrency = 2000, 20
    pool = [workers.start(concurrency=concurrency, lease=30, ready=False) for _ in range(3)]
    for w in pool:
        w.wait_ready()

    started = time.monotonic()
    run_ids = [app.trigger(three_steps, {"out": str(out_file), "n": i}).id for i in range(n_runs)]
    triggered = time.monotonic() - started

    def all_completed() -> bool:
        counts = app.store.runs.count()
        bad = counts[RunStatus.FAILED] + counts[RunStatus.CANCELLED]
        assert bad == 0, f"runs failed or were cancelled: {counts}"
        return counts[RunStatus.COMPLETED] == n_runs

    wait_until(all_completed, 240, f"{n_runs} runs to complete", interval=0.25)
    elapsed = time.monotonic() - started
    with capsys.disabled():
        print(
            f"\n[scale] {n_runs} runs x 3 steps on 3 workers x {concurrency}: "
            f"triggered in {triggered:.1f}s, all completed after {elapsed:.1f}s "
            f"({n_runs / elapsed:.0f} runs/s, {3 * n_runs / elapsed:.0f} steps/s)"
        )

    lines = [(r, what) for r, what, _ in effects(out_file)]
    assert len(lines) == 3 * n_runs
    expected = {(r, s) for r in run_ids for s in ("s1", "s2", "s3")}
    dupes = [k for k, v in collections.Counter(lines).items() if v > 1]
    assert not dupes, f"steps ran twice: {dupes[:10]}"
    assert set(lines) == expected

    completed = app.list_runs(
        task_id=app.get_task(three_steps).id, status="COMPLETED", limit=n_runs + 10
    )
    assert {r.id for r in completed} == set(run_ids)
    for i, run_id in enumerate(run_ids):
        run = app.get_run(run_id)
        assert run.status is RunStatus.COMPLETED
        assert run.result == i
        assert [(s.name, s.status, s.attempts) for s in run.steps] == [
            ("s1", "completed", 1),
            ("s2", "completed", 1),
            ("s3", "completed", 1),
        ]
    per_worker = collections.Counter(pid for _, _, pid in effects(out_file))
    with capsys.disabled():
        print(f"[scale] steps per worker pid: {dict(per_worker)}")
    assert set(per_worker) <= {w.pid for w in pool}
    assert all(w.alive() for w in pool)


def test_sigterm_finishes_inflight_run_and_claims_nothing_more(
    app: Tidings, workers: Workers, out_file: Path
) -> None:
    grace = 15.0
    w = workers.start(concurrency=1, lease=5, grace=grace)
    first = app.trigger(slow_step, {"out": str(out_file), "seconds": 1.5}).id
    wait_until(lambda: effect_count(out_file, first, "slow-start") == 1, 30, "the slow step")
    second = app.trigger(slow_step, {"out": str(out_file), "seconds": 1.5}).id

    assert effect_count(out_file, first, "slow-end") == 0, "SIGTERM must land mid-step"
    sent = time.monotonic()
    w.signal(signal.SIGTERM)
    assert w.wait_exit(grace + 5) == 0
    took = time.monotonic() - sent
    assert took < grace, f"worker took {took:.1f}s to drain (grace {grace}s)"

    done = app.get_run(first)
    assert done.status is RunStatus.COMPLETED, w.log()
    assert done.result == "done"
    assert effect_count(out_file, first, "slow-end") == 1
    queued = app.get_run(second)
    assert queued.status is RunStatus.QUEUED
    assert queued.started_at is None
    assert not [e for e in effects(out_file) if e[0] == second]


def test_cancel_from_another_process_interrupts_running_step(
    app: Tidings, workers: Workers, out_file: Path
) -> None:
    w = workers.start(concurrency=2, lease=3)
    run_id = app.trigger(hangs, {"out": str(out_file)}).id
    wait_until(lambda: effect_count(out_file, run_id, "two-start") == 1, 30, "step two to start")

    cancelled_at = time.monotonic()
    assert app.cancel(run_id).status is RunStatus.CANCELLED
    wait_until(
        lambda: effect_count(out_file, run_id, "two-interrupted") == 1,
        3.0,
        "the worker to interrupt the cancelled attempt",
    )
    print(f"interrupted {time.monotonic() - cancelled_at:.2f}s after cancel")
    run = app.get_run(run_id)
    assert run.status is RunStatus.CANCELLED
    assert steps_by_name(app, run_id) == {"one": ("completed", 1)}

    # the worker is still healthy: it runs a new run to completion
    assert w.alive()
    fresh = app.trigger(three_steps, {"out": str(out_file), "n": 7}).id
    assert wait_for_status(app, fresh, RunStatus.COMPLETED, timeout=15).result == 7
    assert app.get_run(run_id).status is RunStatus.CANCELLED
    assert effect_count(out_file, run_id, "two-interrupted") == 1
    assert w.alive()


def test_hung_worker_loses_its_lease_and_its_late_write_is_rejected(
    app: Tidings, workers: Workers, out_file: Path, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    a = workers.start(concurrency=2, lease=1.0)
    run_id = app.trigger(crashable, {"out": str(out_file), "release": str(release)}).id
    wait_until(lambda: effect_count(out_file, run_id, "two-start") == 1, 30, "step two on A")

    workers.stop_safely(a)  # hung: alive, holding a lease it can no longer renew
    release.touch()
    b = workers.start(concurrency=2, lease=1.0)
    run = wait_for_status(app, run_id, RunStatus.COMPLETED, timeout=30)
    assert run.result == {"one": a.pid, "two": b.pid}
    before = app.get_run(run_id)

    a.signal(signal.SIGCONT)
    # A's step thread wakes, sees the release file and finishes its (late) side effect
    wait_until(
        lambda: ("two-end", a.pid) in [(w, p) for r, w, p in effects(out_file) if r == run_id],
        10,
        "A to finish its stale step",
    )
    # give A a few heartbeats to try to record the step and finish the attempt
    time.sleep(1.5)
    assert a.alive(), a.log()

    after = app.get_run(run_id)
    assert after.status is RunStatus.COMPLETED
    assert after.result == {"one": a.pid, "two": b.pid}
    assert after.finished_at == before.finished_at
    assert after.attempt == before.attempt
    assert [(s.name, s.status, s.attempts, s.result) for s in after.steps] == [
        ("one", "completed", 1, a.pid),
        ("two", "completed", 1, b.pid),
    ]
    assert effect_count(out_file, run_id, "one") == 1
    a.kill()


def test_sigterm_with_sync_step_stuck_past_grace_releases_run_and_exits(
    app: Tidings, workers: Workers, out_file: Path, tmp_path: Path
) -> None:
    grace = 2.0
    w = workers.start(concurrency=1, lease=5, grace=grace)
    never = tmp_path / "never-released"
    run_id = app.trigger(crashable, {"out": str(out_file), "release": str(never)}).id
    wait_until(lambda: effect_count(out_file, run_id, "two-start") == 1, 30, "step two to start")

    w.signal(signal.SIGTERM)
    # after the grace period the attempt is interrupted and the run handed back ...
    wait_for_status(app, run_id, RunStatus.QUEUED, timeout=grace + 10)
    # ... and the process must then exit; it hangs joining the stuck step's thread
    try:
        rc = w.proc.wait(grace + 5)
    except subprocess.TimeoutExpired:
        rc = None
    assert rc == 0, (
        f"worker still running {2 * grace + 5:.0f}s after SIGTERM although its only run "
        "was released: interpreter exit is joining the sync-step thread"
    )
