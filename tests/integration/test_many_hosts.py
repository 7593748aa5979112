"""Workers on several "hosts" sharing only PostgreSQL: clocks that disagree, a host cut
off from the database, a failover to a standby.

Each host is simulated on this machine: a clock skewed with libfaketime (Debian's
``faketime``), a network namespace reaching the database over a veth link. Every step
records its side effect straight to the server (``pgeffects``), so the checks are on what
really happened.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from tidings.records import RunStatus

from .conftest import PgEnv, WorkerProcess, Workers, wait_until
from .pgeffects import check_runs
from .test_postgres_chaos import assert_clean, completed
from .workerapp import pg_slow_effects

pytestmark = pytest.mark.timeout(300)


def _faketime() -> str:
    found = shutil.which("faketime")
    if found is None:
        pytest.fail("faketime is not installed: run `make faketime` (Debian package faketime)")
    return found


def python_pid(worker: WorkerProcess) -> int:
    """The pid of the worker's interpreter (under a wrapper such as ``faketime`` it is
    not the pid started): the second field of its log lines."""
    for line in worker.log().splitlines():
        if " started (concurrency" in line:
            return int(line.split()[2])
    pytest.fail(f"{worker} has not started:\n{worker.log()}")


def test_workers_with_skewed_clocks_run_every_side_effect_once(
    pg: PgEnv, pg_workers: Workers, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Three workers whose clocks read the true time, a minute ahead and a minute behind:
    each used to judge the others' leases and the runs' due times by its own clock, so
    the fast one took over every run the others had in flight (each step ran twice)
    and the slow one saw new runs as not yet due."""
    faketime = _faketime()
    n_runs, concurrency, lease, seconds = 500, 40, 10.0, 3.0
    pool = [
        pg_workers.start(concurrency=concurrency, lease=lease, ready=False, prefix=prefix)
        for prefix in ((), (faketime, "-f", "+60s"), (faketime, "-f", "-60s"))
    ]
    for w in pool:
        w.wait_ready(60)
    started = time.monotonic()
    run_ids = [
        r.id
        for r in pg.app.trigger_many(
            pg_slow_effects, [pg.effects.payload(seconds=seconds) for _ in range(n_runs)]
        )
    ]
    wait_until(lambda: completed(pg.app) >= n_runs, 240, f"{n_runs} runs to complete", 0.5)
    elapsed = time.monotonic() - started
    counts = pg.app.store.runs.count()
    assert counts[RunStatus.COMPLETED] == sum(counts.values()) == n_runs, counts

    effects = pg.effects.rows()
    report = check_runs(pg.app, run_ids, effects, ("effect",), sleep=False)
    pids = [python_pid(w) for w in pool]
    by_pid = {pid: sum(1 for e in effects if e.pid == pid) for pid in pids}
    with capsys.disabled():
        print(
            f"\n[skew] {n_runs} runs of a {seconds}s step on 3 workers x {concurrency} "
            f"(clocks +0s, +60s, -60s; lease {lease}s): all completed in {elapsed:.1f}s; "
            f"{report.summary()}; executions per worker {by_pid}"
        )
    assert_clean(report)
    assert len(effects) == n_runs, f"{len(effects)} side effects for {n_runs} runs"
    assert not report.reruns
    for w, pid in zip(pool, pids, strict=True):
        assert w.alive(), w.log()
        assert by_pid[pid] > 0, f"{w} ran nothing: its clock kept it out\n{w.log()}"
    assert "clock is 60.0" not in pool[0].log()
    assert "s ahead of the clock of PostgreSQL" in pool[1].log()
    assert "s behind the clock of PostgreSQL" in pool[2].log()
