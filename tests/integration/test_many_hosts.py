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
from .pgeffects import FX_DSN_ENV, check_runs
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
