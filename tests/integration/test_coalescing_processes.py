"""Debounce, batch and singleton across three worker processes on PostgreSQL, with
triggers from four processes at once: no trigger is lost or lands in two runs, and each
trigger's handle names the run that took its payload."""

from __future__ import annotations

import collections
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tidings.records import RunStatus

from .conftest import REPO_ROOT, PgEnv, Workers, wait_until
from .test_flow_control_processes import peak_overlap, read_stamps, spans_by_key

pytestmark = pytest.mark.timeout(180)

TRIGGERERS = 4


def trigger_from_processes(url: str, task: str, total: int, keys: int, out: Path) -> dict[int, str]:
    """``total`` triggers of ``task`` split over four processes started together:
    ``{trigger number: run id its handle named}``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "src")])
    env.pop("TIDINGS_DATABASE_URL", None)
    share = total // TRIGGERERS
    command = [sys.executable, "-m", "tests.integration.workerapp", "trigger", url, task]
    procs = [
        subprocess.Popen(
            [*command, str(i * share), str(share), str(keys), str(out)],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(TRIGGERERS)
    ]
    handed: dict[int, str] = {}
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
        for line in stdout.split("\n"):
            if line:
                n, run_id = line.split()
                handed[int(n)] = run_id
    assert len(handed) == total
    return handed


def taken(out: Path) -> dict[int, list[str]]:
    """``{trigger number: the runs whose work took its payload}``."""
    found: dict[int, list[str]] = collections.defaultdict(list)
    for run_id, what, _, _ in read_stamps(out):
        if what.startswith("took:"):
            found[int(what.rsplit(":", 1)[1])].append(run_id)
    return found


@pytest.mark.parametrize(("task", "most"), [("flow-debounce", None), ("flow-batch", 7)])
def test_every_trigger_lands_in_exactly_one_run(
    pg: PgEnv, pg_workers: Workers, tmp_path: Path, task: str, most: int | None
) -> None:
    app, out, total = pg.app, tmp_path / "took.txt", 400
    pool = [pg_workers.start(concurrency=4, ready=False) for _ in range(3)]
    for w in pool:
        w.wait_ready()
    handed = trigger_from_processes(pg.url, task, total, 10, out)

    def all_taken() -> bool:
        return len(taken(out)) == total

    wait_until(all_taken, 60, f"every payload of {task} to be taken", interval=0.1)
    runs = app.list_runs(task, limit=1000)
    wait_until(
        lambda: all(r.status is RunStatus.COMPLETED for r in app.list_runs(task, limit=1000)),
        30,
        "every run to complete",
    )
    found = taken(out)
    assert sorted(found) == list(range(total))
    assert {n: ids for n, ids in found.items() if len(ids) != 1} == {}  # none in two runs
    assert {n: found[n][0] for n in found} == handed  # the handle named the right run
    sizes = collections.Counter(run_id for ids in found.values() for run_id in ids)
    assert {r.id: r.coalesced for r in runs} == dict(sizes)
    assert len(runs) < total / 2, "bursts from four processes should have coalesced"
    if most is not None:
        assert max(sizes.values()) <= most
    for run in runs[:5]:
        assert len(app.get_run(run.id).coalesced_ids) == run.coalesced
    assert all(w.alive() for w in pool)


def test_singleton_keeps_one_active_run_per_key(
    pg: PgEnv, pg_workers: Workers, tmp_path: Path
) -> None:
    app, out, total = pg.app, tmp_path / "work.txt", 200
    pool = [pg_workers.start(concurrency=4, ready=False) for _ in range(3)]
    for w in pool:
        w.wait_ready()
    handed = trigger_from_processes(pg.url, "flow-singleton", total, 3, out)
    made = set(handed.values())

    def done() -> bool:
        return all(app.get_run(r).status is RunStatus.COMPLETED for r in made)

    wait_until(done, 60, "every singleton run to complete", interval=0.1)
    runs = app.list_runs("flow-singleton", limit=1000)
    assert {r.id for r in runs} == made  # every run made was handed to some trigger
    assert len(made) < total, "triggers during an active run should have joined it"
    spans = spans_by_key(read_stamps(out))
    assert sum(len(s) for s in spans.values()) == len(made)
    for key in ("k0", "k1", "k2"):
        assert peak_overlap(spans[key]) == 1, key
    assert all(w.alive() for w in pool)


def test_singleton_cancel_interrupts_an_attempt_in_another_process(
    pg: PgEnv, pg_workers: Workers, tmp_path: Path
) -> None:
    app, out = pg.app, tmp_path / "work.txt"
    pool = [pg_workers.start(concurrency=2, lease=3, ready=False) for _ in range(3)]
    for w in pool:
        w.wait_ready()
    task = "flow-singleton-cancel"
    first = app.trigger(task, {"out": str(out), "key": "k", "seconds": 60}).id

    def began(run_id: str) -> bool:
        return any(r == run_id and w == "start:x" for r, w, _, _ in read_stamps(out))

    wait_until(lambda: began(first), 30, "the first run's work to begin")
    second = app.trigger(task, {"out": str(out), "key": "k", "seconds": 0.1})
    assert second.created
    # the worker holding the first run learns of the cancel at its next lease renewal
    wait_until(
        lambda: any(r == first and w == "interrupted:x" for r, w, _, _ in read_stamps(out)),
        20,
        "the first attempt to be interrupted",
    )
    wait_until(lambda: app.get_run(second.id).status is RunStatus.COMPLETED, 30, "the second run")
    assert app.get_run(first).status is RunStatus.CANCELLED
    assert not any(r == first and w == "end:x" for r, w, _, _ in read_stamps(out))
    assert all(w.alive() for w in pool)
