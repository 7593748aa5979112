"""Workers on several "hosts" sharing only PostgreSQL: clocks that disagree, a host cut
off from the database, a failover to a standby.

Each host is simulated on this machine: a clock skewed with libfaketime (Debian's
``faketime``), a network namespace reaching the database over a veth link. Every step
records its side effect straight to the server (``pgeffects``), so the checks are on what
really happened.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tidings.records import RunStatus

from ..conftest import PG_SERVER
from . import netns
from .conftest import PgEnv, WorkerProcess, Workers, wait_until
from .netns import Forwarder, Host
from .pgeffects import FX_DSN_ENV, EffectsTable, check_runs
from .pgreplica import ReplicatedPair
from .test_postgres_chaos import STEPS, TriggerStream, assert_clean, completed, retrying
from .workerapp import app as worker_app
from .workerapp import pg_slow_effects

# Timed against leases of a few seconds, with processes under skewed clocks and cut
# links: `make test` runs them alone, after the rest (the `exclusive` marker), so the
# load of other tests cannot stretch a step past its lease.
pytestmark = [pytest.mark.timeout(300), pytest.mark.exclusive]


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


# -- a host cut off from the database --------------------------------------------------
@pytest.fixture
def hosts() -> Iterator[Callable[[], tuple[Host, Forwarder]]]:
    """Makes simulated hosts (namespace + veth + forwarder); all removed at teardown."""
    if (why := netns.available()) is not None:
        if os.environ.get("TIDINGS_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"the partition test cannot run: {why} (CI runs as root)")
        pytest.skip(why)
    made: list[tuple[Host, Forwarder | None]] = []

    def make() -> tuple[Host, Forwarder]:
        host = Host()
        made.append((host, None))
        server = urlsplit(PG_SERVER)
        forwarder = Forwarder(host.host_ip, (server.hostname or "127.0.0.1", server.port or 5432))
        made[-1] = (host, forwarder)
        return host, forwarder

    try:
        yield make
    finally:
        for host, forwarder in made:
            if forwarder is not None:
                forwarder.close()
            host.remove()


def via(host: Host, forwarder: Forwarder, schema: str | None = None) -> str:
    """The test server's URL as seen from inside ``host``."""
    server = urlsplit(PG_SERVER)
    user = server.netloc.rpartition("@")[0]
    netloc = (
        f"{user}@{host.host_ip}:{forwarder.port}" if user else f"{host.host_ip}:{forwarder.port}"
    )
    query = "&".join(q for q in (server.query, f"schema={schema}" if schema else "") if q)
    return urlunsplit(server._replace(netloc=netloc, query=query))


def stamps(path: Path) -> list[tuple[str, str, int, float]]:
    """``(run_id, what, pid, unix time)`` of every step execution's start."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        run_id, what, pid, at = line.split()
        rows.append((run_id, what, int(pid), float(at)))
    return rows


def test_a_host_cut_off_longer_than_the_lease_is_taken_over_and_rejoins(
    pg: PgEnv,
    pg_workers: Workers,
    hosts: Callable[[], tuple[Host, Forwarder]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    n_runs, concurrency, lease, seconds = 300, 10, 4.0, 0.5
    cut_for = 3 * lease
    (a, fa), (b, fb) = hosts(), hosts()
    pg.effects.log_reclaims(pg.schema)
    pool = []
    for host, fwd in ((a, fa), (b, fb)):
        pg_workers.db_url = via(host, fwd, pg.schema)
        pool.append(
            pg_workers.start(
                concurrency=concurrency,
                lease=lease,
                ready=False,
                prefix=host.prefix(),
                env_extra={FX_DSN_ENV: via(host, fwd)},
            )
        )
    for w in pool:
        w.wait_ready(60)
    wa, wb = pool
    pid_a, pid_b = python_pid(wa), python_pid(wb)
    out = tmp_path / "stamps.txt"

    def batch(n: int) -> list[str]:
        payloads = [
            pg.effects.payload(seconds=seconds, steps=["s1", "s2"], stamps=str(out))
            for _ in range(n)
        ]
        return [r.id for r in pg.app.trigger_many(pg_slow_effects, payloads)]

    run_ids = batch(n_runs)
    wait_until(lambda: completed(pg.app) >= 40, 60, "runs to complete before the cut", 0.1)
    wait_until(lambda: any(p == pid_a for *_, p, _ in stamps(out)), 30, "host a to run steps", 0.1)
    cut_at = time.time()
    a.cut()
    try:
        time.sleep(cut_for)
    finally:
        a.restore()
    restored_at = time.time()
    run_ids += batch(60)  # work for host a once it is back
    wait_until(lambda: completed(pg.app) >= len(run_ids), 180, "every run to complete", 0.5)
    counts = pg.app.store.runs.count()
    assert counts[RunStatus.COMPLETED] == sum(counts.values()) == len(run_ids), counts

    effects = pg.effects.rows()
    report = check_runs(pg.app, run_ids, effects, ("s1", "s2"), sleep=False, rerun_pids={pid_a})
    started = stamps(out)
    late = [s for s in started if s[2] == pid_a and cut_at + lease < s[3] < restored_at]
    reclaims = pg.effects.reclaims()
    taken = [r for r in reclaims if f":{pid_a}:" in r[1] and f":{pid_b}:" in r[2]]
    after = [s for s in started if s[2] == pid_a and s[3] > restored_at]
    with capsys.disabled():
        print(
            f"\n[partition] {len(run_ids)} runs x 2 steps of {seconds}s on 2 hosts x "
            f"{concurrency}, lease {lease}s, host a cut for {cut_for:.0f}s: "
            f"{len(taken)} runs taken over from it; {report.summary()}; host a started "
            f"{len(after)} steps after it rejoined"
        )
    assert_clean(report)
    assert not late, f"host a started steps after its leases had expired: {late[:5]}"
    assert taken, f"no run of host a was taken over by host b: {reclaims[:5]}"
    assert "abandoning this attempt before the lease" in wa.log(), wa.log()
    assert after, "host a did not rejoin after its link came back"
    for w in pool:
        assert w.alive(), w.log()
        assert "attempt crashed" not in w.log(), w.log()


# -- failover to a streaming standby ---------------------------------------------------
@pytest.fixture
def replicated() -> Iterator[ReplicatedPair]:
    """A throwaway primary + synchronous standby (never the machine's own cluster)."""
    try:
        pair = ReplicatedPair()
    except (LookupError, RuntimeError, OSError, KeyError) as exc:
        if os.environ.get("TIDINGS_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"cannot make a primary and standby: {exc}")
        pytest.skip(f"cannot make a primary and standby: {exc}")
    try:
        yield pair
    finally:
        pair.remove()


def test_workers_follow_a_promoted_standby_and_lose_no_run(
    replicated: ReplicatedPair, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    concurrency, lease = 8, 3.0
    url = replicated.multi_host_url(schema="tidings_failover")
    effects = EffectsTable(replicated.multi_host_url())
    effects.create()
    worker_app.close()
    worker_app.database_url = url
    workers = Workers(url, tmp_path)
    try:
        worker_app.store  # noqa: B018 - migrate before the workers start
        pool = [workers.start(concurrency=concurrency, lease=lease, ready=False) for _ in range(2)]
        for w in pool:
            w.wait_ready(60)
        stream = TriggerStream(worker_app, lambda i: effects.payload(), rate=40)
        stream.start()
        try:
            wait_until(lambda: completed(worker_app) >= 50, 60, "runs before the failover", 0.1)
            before = completed(worker_app)
            failed_at = time.monotonic()
            replicated.failover()
            promoted = time.monotonic() - failed_at
            wait_until(
                lambda: retrying(lambda: completed(worker_app)) > before + 20,
                60,
                "runs to complete on the promoted standby",
                0.05,
            )
            resumed = time.monotonic() - failed_at
            time.sleep(3)  # keep triggering on the new primary
        finally:
            run_ids = stream.stop()
        wait_until(
            lambda: retrying(lambda: completed(worker_app)) >= len(run_ids),
            120,
            "every run to complete",
            0.2,
        )
        report = check_runs(worker_app, run_ids, effects.rows(), STEPS, sleep=False)
        with capsys.disabled():
            print(
                f"\n[failover] {len(run_ids)} runs on 2 workers x {concurrency}: the primary "
                f"stopped and the standby promoted in {promoted:.1f}s; 20 more runs "
                f"completed {resumed:.1f}s after the primary went down; {stream.retries} "
                f"trigger retries; {report.summary()}"
            )
        assert_clean(report)
        for w in pool:
            assert w.alive(), w.log()
            assert "LISTEN connection lost" in w.log(), w.log()
            assert "attempt crashed" not in w.log(), w.log()
    finally:
        workers.kill_all()
        workers.dump_logs()
        worker_app.close()
