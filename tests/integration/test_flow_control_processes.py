"""Concurrency and rate limits hold across three real worker processes on PostgreSQL.

Each run stamps wall-clock times when its work begins and ends (``workerapp.stamp``);
overlaps are counted from those stamps, and rate spacing from the runs' ``started_at``
(the claim time) as well as from the stamps.
"""

from __future__ import annotations

import collections
import itertools
from datetime import timedelta
from pathlib import Path

import pytest

from tidings.records import RunStatus

from .conftest import PgEnv, Workers, wait_until
from .workerapp import flow_concurrency, flow_rate

pytestmark = pytest.mark.timeout(120)

Stamp = tuple[str, str, int, float]  # run id, what, pid, unix time


def read_stamps(out: Path) -> list[Stamp]:
    if not out.exists():
        return []
    rows = []
    for line in out.read_text().splitlines():
        run_id, what, pid, at = line.split()
        rows.append((run_id, what, int(pid), float(at)))
    return rows


def peak_overlap(spans: list[tuple[float, float]]) -> int:
    edges = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans])
    open_, best = 0, 0
    for _, delta in edges:
        open_ += delta
        best = max(best, open_)
    return best


def spans_by_key(stamps: list[Stamp]) -> dict[str, list[tuple[float, float]]]:
    began = {(r, w.split(":", 1)[1]): at for r, w, _, at in stamps if w.startswith("start:")}
    spans: dict[str, list[tuple[float, float]]] = collections.defaultdict(list)
    for r, w, _, at in stamps:
        if w.startswith("end:"):
            key = w.split(":", 1)[1]
            spans[key].append((began[(r, key)], at))
    return spans


def test_limits_hold_across_three_worker_processes(
    pg: PgEnv, pg_workers: Workers, tmp_path: Path
) -> None:
    app = pg.app
    out = tmp_path / "flow.txt"
    # Two slots per worker: the four the limits allow at once (2 for "a", 2 for "b")
    # cannot all be taken by one process, so the limits are enforced across processes.
    pool = [pg_workers.start(concurrency=2, lease=10, ready=False) for _ in range(3)]
    for w in pool:
        w.wait_ready()

    limited = [
        app.trigger(flow_concurrency, {"out": str(out), "key": key, "seconds": 0.3}).id
        for key in ["a"] * 9 + ["b"] * 4
    ]
    rated = [
        app.trigger(flow_rate, {"out": str(out), "key": key}).id for key in ["x"] * 5 + ["y"] * 3
    ]

    def all_done() -> bool:
        runs = [app.get_run(r) for r in limited + rated]
        assert not [r for r in runs if r.status.finished and r.status is not RunStatus.COMPLETED]
        return all(r.status is RunStatus.COMPLETED for r in runs)

    wait_until(all_done, 60, "every run to complete", interval=0.1)
    stamps = read_stamps(out)

    # concurrency: at most 2 at once per key, measured from the work's own stamps
    spans = spans_by_key([s for s in stamps if s[0] in set(limited)])
    assert len(spans["a"]) == 9
    assert len(spans["b"]) == 4
    assert peak_overlap(spans["a"]) == 2
    assert peak_overlap(spans["b"]) == 2
    assert peak_overlap(spans["a"] + spans["b"]) >= 3  # keys do not hold each other back
    pids = {pid for r, _, pid, _ in stamps if r in set(limited)}
    assert len(pids) >= 2, "the limited runs should have spread over several processes"

    # rate: one start per 0.5 s per key, from started_at (claim time) and from stamps
    for key, ids in [("x", rated[:5]), ("y", rated[5:])]:
        claimed = sorted(t for r in ids if (t := app.get_run(r).started_at) is not None)
        assert len(claimed) == len(ids)
        gaps = [b - a for a, b in itertools.pairwise(claimed)]
        assert min(gaps) >= timedelta(seconds=0.5), (key, gaps)
        began = sorted(at for r, w, _, at in stamps if r in set(ids) and w.startswith("start:"))
        assert len(began) == len(ids)
        # The claim times above are the rule; the work itself starts a little after its
        # claim, by up to ~100 ms on a loaded 2-core machine: allow that much noise.
        assert min(b - a for a, b in itertools.pairwise(began)) >= 0.35, (key, began)
    assert all(w.alive() for w in pool)
