"""Bulk actions carried out by real worker processes, one SIGKILLed midway (issue 18).

10,000 queued runs are cancelled by one bulk action (50 per page). The worker carrying
it out is killed with SIGKILL partway through; another worker takes its run over when
the lease expires and resumes from the action's cursor. Every run ends cancelled, and
every page was acted on once: the action went through exactly 10,000 runs, cancelled
10,000 and recorded 201 pages (200 full ones and the empty last one).
"""

from __future__ import annotations

import collections
import signal
from datetime import timedelta

import pytest

from tidings import Tidings
from tidings.records import RunStatus

from .conftest import PgEnv, Workers, wait_for_status, wait_until
from .workerapp import parked

pytestmark = pytest.mark.timeout(300)

N = 10_000
PAGE = 50


def _kill_midway(app: Tidings, workers: Workers, action_id: str) -> None:
    """Start a worker, SIGKILL it once the action is partly done, then start another."""
    a = workers.start(concurrency=4, lease=2.0)
    wait_until(lambda: app.runs.bulk_action(action_id).done >= N // 10, 120, "a tenth done")
    a.signal(signal.SIGKILL)
    assert a.wait_exit(10) == -signal.SIGKILL
    midway = app.runs.bulk_action(action_id)
    assert midway.status == "running"
    assert N // 10 <= midway.done < N, "the kill must land while pages remain"
    workers.start(concurrency=4, lease=2.0)
    wait_until(
        lambda: app.runs.bulk_action(action_id).status == "completed", 180, "the action to end"
    )


def _cancel_ten_thousand(app: Tidings, workers: Workers) -> None:
    handles = app.trigger_many(
        parked, ({"n": i} for i in range(N)), delay=timedelta(hours=1), tags=["bulk"]
    )
    ids = {h.id for h in handles}
    action = app.runs.cancel_many(task=parked, status="QUEUED", tags=["bulk"], page_size=PAGE)
    assert action.total == N

    _kill_midway(app, workers, action.id)

    done = app.runs.bulk_action(action.id)
    assert (done.total, done.done, done.changed) == (N, N, N)
    assert app.store.bulk.get(action.id).pages == N // PAGE + 1  # type: ignore[union-attr]
    # the action is complete with its last page; its run ends just after
    bulk_run = wait_for_status(app, done.run_id or "", RunStatus.COMPLETED, timeout=30)
    # A kill between a page's commit and the save of its step leaves one step fewer:
    # the step ran again on the next worker and, finding the page done, took the next.
    assert N // PAGE <= len(bulk_run.steps) <= N // PAGE + 1
    cancelled = app.list_runs(task_id="parked", limit=N + 10)
    assert {r.id for r in cancelled} == ids
    assert collections.Counter(r.status for r in cancelled) == {RunStatus.CANCELLED: N}


def test_bulk_cancel_of_ten_thousand_survives_a_sigkill_sqlite(
    app: Tidings, workers: Workers
) -> None:
    _cancel_ten_thousand(app, workers)


def test_bulk_cancel_of_ten_thousand_survives_a_sigkill_postgres(
    pg: PgEnv, pg_workers: Workers
) -> None:
    _cancel_ten_thousand(pg.app, pg_workers)


def _replay_each_once(app: Tidings, workers: Workers, n: int) -> None:
    handles = app.trigger_many(parked, ({"n": i} for i in range(n)), delay=timedelta(hours=1))
    sources = {h.id for h in handles}
    for run_id in sources:
        app.cancel(run_id)
    action = app.runs.replay_many(task="parked", status="CANCELLED", page_size=50)
    assert action.total == n

    a = workers.start(concurrency=4, lease=2.0)
    wait_until(lambda: app.runs.bulk_action(action.id).done >= n // 5, 120, "a fifth done")
    a.signal(signal.SIGKILL)
    assert a.wait_exit(10) == -signal.SIGKILL
    assert app.runs.bulk_action(action.id).done < n, "the kill must land while pages remain"
    workers.start(concurrency=4, lease=2.0)
    wait_until(
        lambda: app.runs.bulk_action(action.id).status == "completed", 180, "the action to end"
    )

    done = app.runs.bulk_action(action.id)
    assert (done.total, done.done, done.changed) == (n, n, n)
    runs = app.list_runs(task_id="parked", limit=3 * n)
    replays = [r for r in runs if r.replay_of is not None]
    assert collections.Counter(r.replay_of for r in replays) == dict.fromkeys(sources, 1)


def test_bulk_replay_replays_each_run_once_across_a_sigkill_sqlite(
    app: Tidings, workers: Workers
) -> None:
    _replay_each_once(app, workers, 2000)


def test_bulk_replay_replays_each_run_once_across_a_sigkill_postgres(
    pg: PgEnv, pg_workers: Workers
) -> None:
    _replay_each_once(pg.app, pg_workers, 2000)
