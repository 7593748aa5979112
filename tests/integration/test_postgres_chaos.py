"""Real worker processes on PostgreSQL under fire: lost connections, a restarted server,
workers SIGKILLed in a loop.

Every step writes its side effect to a table of its own, straight to the server (see
``pgeffects``), so what is checked is what really happened: each step of each run
executed, the execution the engine committed is the last one, and any earlier one was
interrupted before its commit (by a kill, or by a lost connection) and so legitimately
ran again.
"""

from __future__ import annotations

import collections
import itertools
import random
import re
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pytest

from tidings import Tidings
from tidings.records import RunStatus

from ..conftest import PG_SERVER
from .conftest import PgEnv, WorkerProcess, Workers, wait_for_status, wait_until
from .pgcluster import PgCluster
from .pgeffects import EffectReport, check_runs
from .pgproxy import PgProxy
from .workerapp import pg_cut, pg_steps

# The server restart below would break every other test running at the time: `make test`
# runs this module alone, after the rest (the `exclusive` marker).
pytestmark = [pytest.mark.timeout(120), pytest.mark.exclusive]

STEPS = ("s1", "s2", "s3")
OUTAGE_LOGGED = re.compile(
    r"tidings\.\S+ (WARNING|ERROR) (store unavailable|LISTEN connection lost|run \S+: the store "
    r"failed mid-attempt|could not record the end)"
)


def assert_clean(report: EffectReport) -> None:
    shown = "\n".join(report.problems[:15])
    assert not report.problems, f"{len(report.problems)} problems ({report.summary()}):\n{shown}"


def retrying(fn: Callable[[], Any], timeout: float = 60.0) -> Any:
    """Call ``fn`` until the store answers (the test process rides out a restart too)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def completed(app: Tidings) -> int:
    counts = retrying(app.store.runs.count)
    bad = counts[RunStatus.FAILED] + counts[RunStatus.CANCELLED]
    assert bad == 0, f"runs failed or were cancelled: {counts}"
    return int(counts[RunStatus.COMPLETED])


def wait_all_completed(app: Tidings, n: int, timeout: float) -> float:
    started = time.monotonic()
    wait_until(lambda: completed(app) >= n, timeout, f"{n} runs to complete", interval=0.2)
    return time.monotonic() - started


# -- 3. connection loss while committing a step ----------------------------------------
def test_connection_terminated_mid_commit_of_a_step_reruns_the_step(
    pg: PgEnv, pg_workers: Workers
) -> None:
    w = pg_workers.start(concurrency=2, lease=5)
    cut = {"dsn": PG_SERVER, "schema": pg.schema}
    run_id = pg.app.trigger(pg_cut, pg.effects.payload(step="s2", terminate=cut)).id

    wait_for_status(pg.app, run_id, RunStatus.COMPLETED, timeout=30)
    effects = pg.effects.rows()
    assert len([e for e in effects if e.step == "terminated:s2"]) == 1, (
        "the worker's commit of s2 was never caught waiting and terminated"
    )
    assert "the store failed mid-attempt" in w.log()
    # the transaction recording s2 died with its connection: s2 ran again, in the same
    # worker, and only that second execution is the recorded one
    assert [e.pid for e in effects if e.step == "s2"] == [w.pid, w.pid]
    report = check_runs(pg.app, [run_id], effects, ("s1", "s2", "s3"), sleep=False)
    assert_clean(report)
    assert len(report.reruns) == 1
    assert w.alive()


@pytest.mark.parametrize("mode", ["before", "after"])
def test_connection_lost_at_commit_of_a_step(
    pg: PgEnv, pg_proxy: PgProxy, pg_workers: Workers, mode: Literal["before", "after"]
) -> None:
    """``before``: COMMIT never reaches the server. ``after``: the server commits, the
    acknowledgement is lost. Either way the step's effect happened and the worker saw
    its commit fail: the step reruns iff it was not committed, and nothing is half done.
    """
    pg_workers.db_url = pg_proxy.url(pg.schema)
    w = pg_workers.start(concurrency=2, lease=5)
    step = f"cut-{mode}"  # the marker the proxy looks for in the transaction
    pg_proxy.cut(step, mode)
    run_id = pg.app.trigger(pg_cut, pg.effects.payload(step=step)).id

    wait_for_status(pg.app, run_id, RunStatus.COMPLETED, timeout=30)
    assert pg_proxy.cuts == [mode]
    assert "the store failed mid-attempt" in w.log()
    executions = [e.pid for e in pg.effects.of(run_id, step)]
    # rolled back: the step ran again; committed unbeknown to the worker: it did not
    assert executions == ([w.pid, w.pid] if mode == "before" else [w.pid])
    report = check_runs(pg.app, [run_id], pg.effects.rows(), ("s1", step, "s3"), sleep=False)
    assert_clean(report)
    assert w.alive()


def test_run_whose_writes_failed_is_reclaimed_while_its_worker_stays_busy(
    pg: PgEnv, pg_proxy: PgProxy, pg_workers: Workers, tmp_path: Path
) -> None:
    """A step's commit fails and so does the hand-back that follows: the run is left
    RUNNING under this worker's lease, which must then expire so the run is resumed,
    even though the worker is busy with another run all along.
    """
    lease = 2.0
    pg_workers.db_url = pg_proxy.url(pg.schema)
    pg_workers.start(concurrency=4, lease=lease)
    busy_gate, gate = tmp_path / "busy-gate", tmp_path / "gate"
    busy = pg.app.trigger(pg_cut, pg.effects.payload(step="gate", gate=str(busy_gate))).id
    orphan = pg.app.trigger(pg_cut, pg.effects.payload(step="gate", gate=str(gate))).id

    def at_gate(run_id: str) -> bool:  # s1 committed, so the next write is the gate's
        return [(s.name, s.status) for s in pg.app.get_run(run_id).steps] == [("s1", "completed")]

    wait_until(lambda: at_gate(busy) and at_gate(orphan), 30, "both runs to wait at their gate")
    try:
        pg_proxy.cut(orphan, "before", times=2)  # the step's commit, then the release
        gate.touch()
        assert pg_proxy.wait_cuts(2, 15), f"cuts made: {pg_proxy.cuts}"
        lost_at = time.monotonic()

        budget = 3 * lease + 5
        deadline = lost_at + budget
        while (status := pg.app.get_run(orphan).status) is not RunStatus.COMPLETED:
            if time.monotonic() > deadline:
                pytest.fail(
                    f"run {orphan} is still {status} {budget:.0f}s after its worker failed "
                    f"to record it (lease {lease}s) while that worker kept running another "
                    "run: the worker's heartbeat renews the lease of every RUNNING run "
                    "that names it (renew_leases), including runs it no longer executes"
                )
            time.sleep(0.1)
        print(f"orphaned run resumed {time.monotonic() - lost_at:.1f}s after its writes failed")
        assert pg.app.get_run(busy).status is RunStatus.RUNNING
    finally:
        busy_gate.touch()
    wait_for_status(pg.app, busy, RunStatus.COMPLETED, timeout=30)
    assert len(pg.effects.of(orphan, "gate")) == 2  # cut before commit: ran again
    report = check_runs(
        pg.app, [busy, orphan], pg.effects.rows(), ("s1", "gate", "s3"), sleep=False
    )
    assert_clean(report)


# -- 1. the server restarted under running workers -------------------------------------
class TriggerStream:
    """Triggers runs at a steady rate from a thread, riding out store outages.

    Each trigger has its own idempotency key, so a retry after a commit whose answer
    was lost finds the run instead of creating a second one.
    """

    def __init__(self, app: Tidings, payload: Callable[[int], dict[str, Any]], rate: float):
        self.app, self.payload, self.rate = app, payload, rate
        self.run_ids: list[str] = []
        self.retries = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="trigger-stream", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> list[str]:
        self._stop.set()
        self._thread.join(90)
        assert not self._thread.is_alive(), "the trigger stream did not stop"
        if self.error is not None:
            raise self.error
        return list(self.run_ids)

    def _loop(self) -> None:
        try:
            i = 0
            while not self._stop.wait(1 / self.rate):
                self.run_ids.append(self._trigger(i))
                i += 1
        except BaseException as exc:
            self.error = exc

    def _trigger(self, i: int) -> str:
        deadline = time.monotonic() + 60
        while True:
            try:
                key = f"stream-{i}"
                return self.app.trigger(pg_steps, self.payload(i), idempotency_key=key).id
            except Exception:
                if time.monotonic() > deadline:
                    raise
                self.retries += 1
                time.sleep(0.05)


@pytest.mark.timeout(240)
def test_postgres_restart_while_workers_run(
    pg: PgEnv, pg_workers: Workers, pg_cluster: PgCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    """Restarts the whole server (every session on it is cut): never run it in parallel
    with other PostgreSQL tests on the same server."""
    concurrency, lease = 8, 3.0
    pool = [pg_workers.start(concurrency=concurrency, lease=lease, ready=False) for _ in range(2)]
    for w in pool:
        w.wait_ready()
    stream = TriggerStream(pg.app, lambda i: pg.effects.payload(sleep=0.2), rate=100)
    stream.start()
    try:
        wait_until(lambda: completed(pg.app) >= 50, 30, "runs to complete before the restart")
        down_at = time.monotonic()
        pg_cluster.restart()
        up_at, up_wall = time.monotonic(), datetime.now(UTC)
        time.sleep(4)  # keep the stream going after the restart
    finally:
        run_ids = stream.stop()
        pg_cluster.ensure_up()
    drained = wait_all_completed(pg.app, len(run_ids), timeout=90)

    effects = pg.effects.rows()
    report = check_runs(pg.app, run_ids, effects, STEPS, sleep=True)
    runs = pg.app.list_runs(limit=len(run_ids) + 1)
    finished = sorted(r.finished_at for r in runs if r.finished_at is not None)
    pause = max(b - a for a, b in itertools.pairwise(finished))
    with capsys.disabled():
        print(
            f"\n[restart] {len(run_ids)} runs on 2 workers x {concurrency}, lease {lease}s: "
            f"restart took {up_at - down_at:.1f}s, longest pause between two completions "
            f"{pause.total_seconds():.1f}s; the backlog drained "
            f"{drained:.1f}s after the stream stopped; {stream.retries} trigger retries; "
            f"{report.summary()}"
        )
    assert_clean(report)
    # only steps in flight when the server went away may have run twice
    assert len(report.reruns) <= len(pool) * concurrency
    for w in pool:
        assert w.alive(), w.log()
        assert OUTAGE_LOGGED.search(w.log()), f"{w} logged nothing of the outage:\n{w.log()}"
        assert "attempt crashed" not in w.log(), w.log()
        assert any(e.pid == w.pid and e.executed_at > up_wall for e in effects), (
            f"{w} did no work after the restart"
        )


# -- 2. chaos: SIGKILL a worker every few seconds --------------------------------------
class Chaos:
    """Keeps ``size`` workers running; :meth:`kill_one` SIGKILLs one and starts another."""

    def __init__(self, workers: Workers, size: int, concurrency: int, lease: float, seed: int):
        self.workers, self.concurrency, self.lease = workers, concurrency, lease
        self.rng = random.Random(seed)
        self.pool = [self._start() for _ in range(size)]
        for w in self.pool:
            w.wait_ready()
        self.killed: list[WorkerProcess] = []

    def _start(self) -> WorkerProcess:
        return self.workers.start(concurrency=self.concurrency, lease=self.lease, ready=False)

    def kill_one(self) -> None:
        ready = [w for w in self.pool if w.alive() and " started (concurrency" in w.log()]
        if not ready:
            return
        victim = self.rng.choice(ready)
        victim.signal(signal.SIGKILL)
        assert victim.wait_exit(10) == -signal.SIGKILL
        self.killed.append(victim)
        self.pool.remove(victim)
        self.pool.append(self._start())

    def check_alive(self) -> None:
        for w in self.pool:
            assert w.alive(), f"{w} died without being killed:\n{w.log()}"


def _unfinished(app: Tidings) -> list[tuple[str, str, list[str]]]:
    runs = app.list_runs(status=["QUEUED", "RUNNING", "WAITING"], limit=5)
    return [(r.id, str(r.status), [s.name for s in app.get_run(r.id).steps]) for r in runs]


def _trigger_all(app: Tidings, payloads: list[dict[str, Any]]) -> list[str]:
    def trigger(payload: dict[str, Any]) -> str:
        return app.trigger(pg_steps, payload).id

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(trigger, payloads))


@pytest.mark.timeout(300)
def test_chaos_workers_sigkilled_while_5000_runs_complete(
    pg: PgEnv, pg_workers: Workers, capsys: pytest.CaptureFixture[str]
) -> None:
    n_runs, size, concurrency, lease, budget = 5000, 4, 10, 2.0, 180.0
    seed = random.SystemRandom().randrange(1 << 32)
    pg.effects.log_reclaims(pg.schema)
    chaos = Chaos(pg_workers, size, concurrency, lease, seed)
    rng = random.Random(seed)
    payloads = [pg.effects.payload(sleep=round(rng.uniform(0.05, 0.2), 3)) for _ in range(n_runs)]

    started = time.monotonic()
    with ThreadPoolExecutor(1) as bg:
        triggering = bg.submit(_trigger_all, pg.app, payloads)
        next_kill = started + chaos.rng.uniform(2, 4)
        triggered = 0.0
        while not (triggering.done() and completed(pg.app) == n_runs):
            now = time.monotonic()
            if not triggered and triggering.done():
                triggered = now - started
            if triggering.done() and (error := triggering.exception()) is not None:
                raise error
            if now - started > budget:
                pytest.fail(
                    f"not all runs completed after {budget:.0f}s (seed {seed}): "
                    f"{pg.app.store.runs.count()}; e.g. {_unfinished(pg.app)}"
                )
            if now >= next_kill:
                chaos.kill_one()
                next_kill = now + chaos.rng.uniform(2, 4)
            time.sleep(0.1)
        run_ids = triggering.result()
    elapsed = time.monotonic() - started
    counts = pg.app.store.runs.count()
    assert counts[RunStatus.COMPLETED] == sum(counts.values()) == n_runs, counts  # none stuck

    killed = {w.pid for w in chaos.killed}
    report = check_runs(pg.app, run_ids, pg.effects.rows(), STEPS, sleep=True, rerun_pids=killed)
    reclaims = pg.effects.reclaims()
    # worker ids are host:pid:suffix; a takeover from a live worker means it lost a lease
    from_live = [r for r in reclaims if int(r[1].split(":")[1]) not in killed]
    per_pid = collections.Counter(e.pid for e in report.reruns)
    with capsys.disabled():
        print(
            f"\n[chaos] seed {seed}: {n_runs} runs x 3 steps + sleep on {size} workers x "
            f"{concurrency}, lease {lease}s: triggered in {triggered:.1f}s, all completed after "
            f"{elapsed:.1f}s "
            f"({n_runs / elapsed:.0f} runs/s); {len(killed)} workers SIGKILLed, "
            f"{len(reclaims) - len(from_live)} runs reclaimed from them and {len(from_live)} "
            f"from live workers; {report.summary()}; "
            f"re-executions per pid {dict(per_pid)}"
        )
    assert not from_live, (
        f"{len(from_live)} runs were taken over from live workers, which let their leases "
        f"expire although they were running them (run, from, to): {from_live[:5]}"
    )
    assert_clean(report)
    assert killed, "no worker was killed: the run was too short to test anything"
    assert len(report.reruns) <= len(killed) * concurrency
    chaos.check_alive()
    for w in chaos.pool + chaos.killed:
        assert "attempt crashed" not in w.log(), w.log()
