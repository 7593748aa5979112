"""tidings side by side with DBOS, Procrastinate and pgbench on PostgreSQL (``make bench-peers``).

One run, one PostgreSQL server, the same machine. Every measurement gets a fresh
database that this script creates and drops; every system runs ONE worker process with
concurrency 10, and a separate client triggers work and reads progress. DBOS and
Procrastinate run from their own scripts (bench/peer_dbos.py, bench/peer_procrastinate.py)
with the python of ``.venv-bench``, the only environment they are installed in; this
script reads their tables itself, so every system is timed the same way:

- no-op and 3-step runs, live: the worker idles 1.5 s, the client triggers N runs one by
  one, and end to end is N / (last completion - first trigger);
- the same from a backlog (N queued before the worker starts): N / (last completion -
  first start), the worker alone; per-step overhead is the 3-step minus the no-op worker
  time per run, divided by 3;
- trigger-to-start: sequential triggers with the worker idle, measured to the start time
  the system records (tidings ``started_at``, DBOS ``started_at_epoch_ms``, Procrastinate's
  ``started`` event);
- sleeping runs: the client triggers N runs that sleep for an hour while the worker runs;
  time until all are parked, the worker's RSS, and the bytes of the system's tables;
- pgbench: a one-row INSERT (one transaction) with 4 clients, the physical reference.

Prints one JSON object to stdout (progress goes to stderr) and writes the PostgreSQL
section of bench/RESULTS.md (between the peers markers; the SQLite section is core.py's).

    make bench-peers                                   # full sizes (about 15 minutes)
    .venv-bench/bin/python bench/peers.py --quick      # small sizes, for smoke tests
    .venv-bench/bin/python bench/peers.py --only tidings --only pgbench
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib.metadata
import json
import os
import random
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import psycopg
from psycopg import sql

if __package__ in (None, ""):  # run as a script: the repository root is not on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import RESULTS, WorkerProcess, log, section, write_section
from bench.core import (
    RSS_FLAT_MB,
    STEP_GOAL_US,
    build_app,
    span,
    tidings_worker,
    trigger_many,
)
from tidings import RunStatus, Tidings

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SYSTEMS = ("tidings", "dbos", "procrastinate", "pgbench")
# This script's section of RESULTS.md (bench/core.py rewrites its own and keeps this one).
PEERS_BEGIN, PEERS_END = section("peers")

CONCURRENCY = 10
IDLE_BEFORE = 1.5  # seconds a fresh worker idles before the client starts
# Seconds between a run's end and the next trigger (the worker idles): drawn at random, so
# triggers land at every phase of a worker's periodic poll instead of locking onto one.
LATENCY_GAP = (0.02, 0.07)
DBOS_POLL = 0.01  # s: DBOS queue polling interval with worker_concurrency 10 (see note)

# Goals from issue 3, on this machine.
NOOP_GOAL = 2000.0
PGBENCH_SHARE_GOAL = 0.40
THREE_STEP_GOAL = 700.0
P50_GOAL_MS, P99_GOAL_MS = 3.0, 15.0
PARK_GOAL = 2000.0


@dataclass(frozen=True)
class Sizes:
    runs: int  # no-op and 3-step runs per measurement
    latency: int  # sequential triggers
    sleeping: int  # sleeping runs
    first: int  # parked runs at the first RSS sample
    pgbench_seconds: int


BATCH = 100  # runs per app.trigger_many call in the batched no-op line (tidings only)

FULL = Sizes(runs=5000, latency=200, sleeping=100_000, first=1000, pgbench_seconds=10)
QUICK = Sizes(runs=1000, latency=50, sleeping=10_000, first=1000, pgbench_seconds=5)


# -- PostgreSQL housekeeping ---------------------------------------------------------------
def admin() -> psycopg.Connection[Any]:
    return psycopg.connect(ADMIN_URL, autocommit=True)


def server_started(wait: float = 120.0) -> str:
    """pg_postmaster_start_time(), waiting up to `wait` s for a restarting server."""
    deadline = time.monotonic() + wait
    while True:
        try:
            with admin() as conn:
                row = conn.execute("SELECT pg_postmaster_start_time()").fetchone()
            return str(row[0] if row else None)
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def unrestarted(label: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run fn; again (twice at most) if PostgreSQL restarted meanwhile (this machine's
    server is shared, and other work may restart it): a figure from a restart is no figure."""
    for _ in range(3):
        before = server_started()
        try:
            out = fn()
        except Exception:
            if server_started() == before:
                raise  # a real failure
            out = None
        if out is not None and server_started() == before:
            return out
        log(f"PostgreSQL restarted during {label}; measuring it again")
    raise RuntimeError(f"PostgreSQL restarted during each of 3 tries of {label}")


def db_url(name: str, **query: str) -> str:
    base = ADMIN_URL.rsplit("/", 1)[0]
    params = "&".join(f"{k}={v}" for k, v in query.items())
    return f"{base}/{name}" + (f"?{params}" if params else "")


@contextlib.contextmanager
def fresh_database(label: str) -> Iterator[str]:
    """CREATE DATABASE peers_<label>_<pid>; dropped (connections and all) afterwards."""
    name = f"peers_{label}_{os.getpid()}"
    ident = sql.Identifier(name)
    with admin() as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(ident))
    try:
        yield name
    finally:
        with admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))


def drop_stale_databases() -> None:
    """Databases an interrupted run of this script left behind (its pid is gone)."""
    with admin() as conn:
        names = [str(r[0]) for r in conn.execute("SELECT datname FROM pg_database")]
        for name in names:
            match = re.fullmatch(r"peers_\w+_(\d+)", name)
            if match and not Path(f"/proc/{match.group(1)}").exists():
                log(f"dropping {name}, left by an interrupted run")
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


def scalar(url: str, query: str, params: tuple[Any, ...] = ()) -> Any:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(query.encode(), params)
        row = cur.fetchone() if cur.description else None
    return None if row is None else row[0]


def schema_bytes(url: str, schema: str) -> int:
    """pg_total_relation_size (heap, indexes, TOAST) of every table in the schema."""
    query = (
        "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind IN ('r', 'p')"
    )
    return int(scalar(url, query, (schema,)))


# -- one system behind one interface -------------------------------------------------------
class Target:
    """How the harness drives one system on one fresh database."""

    name = ""
    schema = ""  # where its tables live, for bytes on disk

    def __init__(self, database: str) -> None:
        self.database = database

    def prepare(self) -> None:
        """Create the system's tables (before a backlog is enqueued)."""

    def worker(self) -> WorkerProcess:
        raise NotImplementedError

    def enqueue(self, kind: str, n: int) -> tuple[float, float]:
        """Trigger N runs one by one; (time of the first, time after the last)."""
        raise NotImplementedError

    def done(self, kind: str) -> int:
        """Runs of this kind completed; raises if any failed."""
        raise NotImplementedError

    def span(self, kind: str, n: int) -> tuple[float, float]:
        """(first start, last completion) of the kind's runs, as Unix seconds."""
        raise NotImplementedError

    def parked(self) -> int:
        """Sleeping runs recorded as such."""
        raise NotImplementedError

    def latency(self, n: int) -> list[float]:
        """ms from each of N sequential triggers to the start recorded for its run."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class TidingsTarget(Target):
    """tidings in this process (the client) and bench/core.py's worker process."""

    name, schema = "tidings", "tidings"
    TASKS = {
        "noop": "noop",
        "noop_batch": "noop",
        "three_steps": "three-steps",
        "sleeper": "sleeper",
    }

    def __init__(self, database: str) -> None:
        super().__init__(database)
        self.url = db_url(database, schema=self.schema)
        self.app: Tidings = build_app(self.url)

    def prepare(self) -> None:
        _ = self.app.store  # migrates

    def worker(self) -> WorkerProcess:
        self.prepare()
        return tidings_worker(self.url, CONCURRENCY)

    def enqueue(self, kind: str, n: int) -> tuple[float, float]:
        payload: dict[str, Any] | None = None if kind == "sleeper" else {}
        if kind == "noop_batch":  # one transaction per BATCH runs (app.trigger_many)
            t0 = time.time()
            for start in range(0, n, BATCH):
                self.app.trigger_many("noop", [payload] * min(BATCH, n - start))
            return t0, time.time()
        return trigger_many(self.app, self.TASKS[kind], n, payload)

    def _count(self, status: RunStatus) -> int:
        counts = self.app.store.runs.count()
        if counts[RunStatus.FAILED]:
            raise RuntimeError(f"tidings runs failed: {counts}")
        return counts[status]

    def done(self, kind: str) -> int:
        return self._count(RunStatus.COMPLETED)

    def span(self, kind: str, n: int) -> tuple[float, float]:
        return span(self.app, self.TASKS[kind], n)

    def parked(self) -> int:
        return self._count(RunStatus.WAITING)

    def latency(self, n: int) -> list[float]:
        store, samples, rng = self.app.store, [], random.Random(n)
        for _ in range(n):
            time.sleep(rng.uniform(*LATENCY_GAP))
            t0 = time.time()
            run_id = self.app.trigger("noop", {}).id
            while (run := store.runs.get(run_id, steps=False)) is None or (
                run.status is not RunStatus.COMPLETED
            ):
                time.sleep(0.0005)
            assert run.started_at is not None
            samples.append((run.started_at.timestamp() - t0) * 1000)
        return samples

    def close(self) -> None:
        self.app.close()


class PeerTarget(Target):
    """A peer driven through its script in .venv-bench; progress read with SQL here."""

    script = ""
    options: tuple[str, ...] = ()

    def __init__(self, database: str, python: str, errors: IO[str]) -> None:
        super().__init__(database)
        self.url = db_url(database)
        self.python = python
        self.errors = errors
        self.prepared = False

    def _cmd(self, *args: str) -> list[str]:
        return [self.python, str(HERE / self.script), *args, self.url, *self.options]

    def _run(self, *args: str) -> dict[str, Any]:
        cmd = [self.python, str(HERE / self.script), args[0], self.url, *args[1:]]
        out = subprocess.run(
            [*cmd, *self.options], stdout=subprocess.PIPE, stderr=self.errors, text=True
        )
        if out.returncode:
            raise RuntimeError(f"{' '.join(cmd[1:3])} failed; see {self.errors.name}")
        result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1] or "{}")
        return result

    def prepare(self) -> None:
        if not self.prepared:
            subprocess.run(self._cmd("setup"), stderr=self.errors, check=True)
            self.prepared = True

    def worker(self) -> WorkerProcess:
        self.prepare()
        return WorkerProcess(self._cmd("worker"), self.errors)

    def enqueue(self, kind: str, n: int) -> tuple[float, float]:
        out = self._run("enqueue", kind, str(n))
        return float(out["t0"]), float(out["t1"])

    def latency(self, n: int) -> list[float]:
        gaps = ("--gap", ",".join(map(str, LATENCY_GAP)))
        return [float(x) for x in self._run("latency", str(n), *gaps)["samples_ms"]]

    def q(self, query: str, *params: Any) -> Any:
        return scalar(self.url, query, params)


class DbosTarget(PeerTarget):
    name, schema, script = "dbos", "dbos", "peer_dbos.py"

    def __init__(self, database: str, python: str, errors: IO[str], poll: float, conc: int):
        super().__init__(database, python, errors)
        self.options = ("--poll", str(poll), "--concurrency", str(conc))

    def done(self, kind: str) -> int:
        if self.q("SELECT COUNT(*) FROM dbos.workflow_status WHERE status = 'ERROR'"):
            raise RuntimeError("DBOS workflows failed")
        query = "SELECT COUNT(*) FROM dbos.workflow_status WHERE status = 'SUCCESS' AND name = %s"
        return int(self.q(query, kind))

    def span(self, kind: str, n: int) -> tuple[float, float]:
        query = (
            "SELECT MIN(started_at_epoch_ms) || ',' || MAX(updated_at) FROM dbos.workflow_status"
            " WHERE status = 'SUCCESS' AND name = %s"
        )
        first, last = str(self.q(query, kind)).split(",")
        return int(first) / 1000, int(last) / 1000

    def parked(self) -> int:
        query = "SELECT COUNT(*) FROM dbos.operation_outputs WHERE function_name = 'DBOS.sleep'"
        return int(self.q(query))


class ProcrastinateTarget(PeerTarget):
    name, schema, script = "procrastinate", "public", "peer_procrastinate.py"

    def __init__(self, database: str, python: str, errors: IO[str]) -> None:
        super().__init__(database, python, errors)
        self.options = ("--concurrency", str(CONCURRENCY))

    def done(self, kind: str) -> int:
        if self.q("SELECT COUNT(*) FROM procrastinate_jobs WHERE status = 'failed'"):
            raise RuntimeError("Procrastinate jobs failed")
        return int(self.q("SELECT COUNT(*) FROM procrastinate_jobs WHERE status = 'succeeded'"))

    def span(self, kind: str, n: int) -> tuple[float, float]:
        query = (
            "SELECT EXTRACT(EPOCH FROM MIN(at) FILTER (WHERE type = 'started')) || ',' ||"
            " EXTRACT(EPOCH FROM MAX(at) FILTER (WHERE type = 'succeeded'))"
            " FROM procrastinate_events"
        )
        first, last = str(self.q(query)).split(",")
        return float(first), float(last)

    def parked(self) -> int:
        query = (
            "SELECT COUNT(*) FROM procrastinate_jobs WHERE status = 'todo' AND scheduled_at > now()"
        )
        return int(self.q(query))


# -- measurements --------------------------------------------------------------------------
def wait_until(probe: Callable[[], int], n: int, timeout: float, every: float = 0.05) -> int:
    deadline = time.monotonic() + timeout
    while (got := probe()) < n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:.0f}s for {n}, have {got}")
        time.sleep(every)
    return got


def throughput(target: Target, kind: str, n: int, *, backlog: bool) -> dict[str, Any]:
    """Live: an idle worker, then N triggers. Backlog: N triggers, then the worker."""
    if backlog:
        target.prepare()
        t0, t1 = target.enqueue(kind, n)
        worker = target.worker()
    else:
        worker = target.worker()
        time.sleep(IDLE_BEFORE)
        t0, t1 = target.enqueue(kind, n)
    try:
        wait_until(lambda: target.done(kind), n, timeout=1800)
        first, last = target.span(kind, n)
    finally:
        worker.stop()
    out = {
        "runs": n,
        "trigger_runs_per_s": n / (t1 - t0),
        "worker_runs_per_s": n / (last - first),
    }
    if not backlog:
        out["end_to_end_runs_per_s"] = n / (last - t0)
        out["first_pickup_ms"] = (first - t0) * 1000
    return out


def latency(target: Target, n: int) -> dict[str, Any]:
    worker = target.worker()
    try:
        time.sleep(IDLE_BEFORE)
        samples = target.latency(n)
    finally:
        worker.stop()
    ordered = sorted(samples)
    return {
        "samples": n,
        "p50_ms": statistics.median(ordered),
        "p90_ms": ordered[int(0.90 * (n - 1))],
        "p99_ms": ordered[int(0.99 * (n - 1))],
        "max_ms": ordered[-1],
        "mean_ms": statistics.fmean(ordered),
    }


def sleeping(target: Target, n: int, first: int) -> dict[str, Any]:
    """The client triggers N hour-long sleepers at an idle worker; until all are parked."""
    worker = target.worker()
    samples: list[float] = []
    try:
        time.sleep(IDLE_BEFORE)
        rss_idle = worker.rss_mb()
        client = _Background(lambda: target.enqueue("sleeper", n))
        at_first = wait_until(target.parked, first, timeout=600, every=0.02)
        rss_first = worker.rss_mb()

        def parked_sampling_rss() -> int:
            samples.append(worker.rss_mb())
            return target.parked()

        wait_until(parked_sampling_rss, n, timeout=7200, every=0.5)
        t0, t1 = client.join()
        parked_at = time.time()
        time.sleep(2)  # an idle poll or two
        rss_all = worker.rss_mb()
        disk = schema_bytes(target_url(target), target.schema)
    finally:
        worker.stop()
    delta = rss_all - rss_first
    return {
        "runs": n,
        "trigger_runs_per_s": n / (t1 - t0),
        "seconds_to_park_all": parked_at - t0,
        "park_runs_per_s": n / (parked_at - t0),
        "rss_idle_mb": rss_idle,
        "parked_at_first_sample": at_first,
        "rss_after_first_mb": rss_first,
        "rss_after_all_mb": rss_all,
        "rss_peak_mb": max([rss_first, rss_all, *samples]),
        "rss_delta_mb": delta,
        "memory_bytes_per_parked_run": max(delta, 0) * 2**20 / (n - at_first),
        "disk_bytes": disk,
        "disk_bytes_per_run": disk / n,
    }


class _Background:
    """Run the client's triggers on a thread while this thread samples the worker."""

    def __init__(self, fn: Callable[[], tuple[float, float]]) -> None:
        import threading

        self._result: tuple[float, float] | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, args=(fn,), daemon=True)
        self._thread.start()

    def _main(self, fn: Callable[[], tuple[float, float]]) -> None:
        try:
            self._result = fn()
        except BaseException as exc:  # re-raised in join()
            self._error = exc

    def join(self) -> tuple[float, float]:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result


def target_url(target: Target) -> str:
    return db_url(target.database)


# -- pgbench: the physical reference -------------------------------------------------------
PGBENCH_TABLE = (
    "CREATE TABLE one_row (id bigserial PRIMARY KEY, payload jsonb NOT NULL, "
    "created_at timestamptz NOT NULL DEFAULT now())"
)
PGBENCH_SCRIPT = "INSERT INTO one_row (payload) VALUES ('{}');\n"


def pgbench_binary() -> str:
    found = [*sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"), reverse=True)]
    for candidate in ("pgbench", *map(str, found)):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run([candidate, "--version"], capture_output=True, check=True)
            return candidate
    raise RuntimeError("pgbench not found: apt-get install postgresql-contrib (or postgresql-15)")


def pgbench(seconds: int, tmp: Path) -> dict[str, Any]:
    binary = pgbench_binary()
    script = tmp / "one_row.sql"
    script.write_text(PGBENCH_SCRIPT)
    out: dict[str, Any] = {
        "version": subprocess.run([binary, "--version"], capture_output=True, text=True)
        .stdout.strip()
        .removeprefix("pgbench "),
        "script": PGBENCH_SCRIPT.strip() + " (autocommit: one INSERT + COMMIT)",
        "seconds": seconds,
    }
    with fresh_database("pgbench") as database:
        scalar(db_url(database), PGBENCH_TABLE)
        for clients in (4, 1):
            cmd = [binary, "-n", "-M", "prepared", "-f", str(script), "-T", str(seconds)]
            cmd += ["-c", str(clients), "-j", str(min(clients, os.cpu_count() or 1))]
            cmd += [db_url(database)]
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", done.stdout)
            if match is None:
                raise RuntimeError(f"cannot read pgbench output:\n{done.stdout}")
            out[f"tps_{clients}_clients"] = float(match.group(1))
            out[f"command_{clients}_clients"] = shlex.join([*cmd[:-1], "DB"])
    log(f"pgbench: {out['tps_4_clients']:,.0f} tps (4 clients), {out['tps_1_clients']:,.0f} (1)")
    return out


# -- every measurement, interleaved across systems -----------------------------------------
MEASUREMENTS = (
    "noop_live",
    "noop_batch_live",
    "noop_backlog",
    "three_steps_live",
    "three_steps_backlog",
    "latency",
    "sleeping",
)
NO_STEPS = {"procrastinate"}  # jobs have no steps
ONLY_TIDINGS = {"noop_batch_live"}  # the peers are measured one run per call only


def measure_one(
    name: str, make: Callable[[str], Target], measurement: str, sizes: Sizes
) -> dict[str, Any]:
    """One measurement of one system on a fresh database."""
    with fresh_database(f"{name}_{measurement}") as database:
        target = make(database)
        try:
            if measurement == "latency":
                out = latency(target, sizes.latency)
            elif measurement == "sleeping":
                out = sleeping(target, sizes.sleeping, sizes.first)
            else:
                kind, mode = measurement.rsplit("_", 1)
                out = throughput(target, kind, sizes.runs, backlog=mode == "backlog")
        finally:
            target.close()
    log(f"{name} {measurement}: {_describe(measurement, out)}")
    return out


def measure_all(
    makers: dict[str, Callable[[str], Target]], sizes: Sizes, errors: IO[str]
) -> dict[str, Any]:
    """Each measurement for every system before the next one, so drift in the machine's
    load is shared out instead of landing on whichever system runs last."""
    results: dict[str, Any] = {name: {} for name in makers}
    for measurement in MEASUREMENTS:
        for name, make in makers.items():
            if measurement.startswith("three_steps") and name in NO_STEPS:
                continue
            if measurement in ONLY_TIDINGS and name != "tidings":
                continue
            one = functools.partial(measure_one, name, make, measurement, sizes)
            got = _guard(name, functools.partial(unrestarted, f"{name} {measurement}", one), errors)
            if isinstance(got, dict):
                results[name][measurement] = got
            else:  # keep the other measurements of this system
                results[name].setdefault("failed", {})[measurement] = got
    for name, out in results.items():
        if "noop_backlog" in out and "three_steps_backlog" in out:
            per_run = [
                1 / out[f"{k}_backlog"]["worker_runs_per_s"] for k in ("noop", "three_steps")
            ]
            out["us_per_step"] = (per_run[1] - per_run[0]) / 3 * 1e6
            log(f"{name}: {out['us_per_step']:,.0f} µs per step")
        if name in NO_STEPS and "sleeping" in out:
            out["sleeping"]["memory_bytes_per_parked_run"] = None  # never held by the worker
    return results


def _describe(measurement: str, t: dict[str, Any]) -> str:
    if measurement == "latency":
        return f"p50 {t['p50_ms']:.1f} ms, p99 {t['p99_ms']:.1f} ms"
    if measurement == "sleeping":
        return (
            f"{t['runs']:,} parked at {t['park_runs_per_s']:,.0f}/s, RSS "
            f"{t['rss_after_first_mb']:.0f} -> {t['rss_after_all_mb']:.0f} MB, "
            f"{t['disk_bytes'] / 2**20:,.1f} MiB on disk"
        )
    e2e = t.get("end_to_end_runs_per_s")
    head = f"end to end {e2e:,.0f}/s, " if e2e is not None else ""
    return f"{head}trigger {t['trigger_runs_per_s']:,.0f}/s, worker {t['worker_runs_per_s']:,.0f}/s"


def dbos_defaults(make: Callable[[str], Target], n: int) -> dict[str, Any]:
    """DBOS as shipped: no per-worker limit, 1 s polling; no-op, live."""
    with fresh_database("dbos_defaults") as database:
        target = make(database)
        out = throughput(target, "noop", n, backlog=False)
    log(f"dbos defaults noop_live: {_describe('noop_live', out)}")
    return out


# -- environment, goals, report ------------------------------------------------------------
def versions(python: str, want: set[str]) -> dict[str, Any]:
    import platform

    with admin() as conn:
        settings: dict[str, Any] = {
            name: conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()
            for name in (
                "server_version",
                "synchronous_commit",
                "fsync",
                "shared_buffers",
                "max_connections",
            )
        }
        settings["started"] = conn.execute("SELECT pg_postmaster_start_time()").fetchone()
    git = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True
    ).stdout.strip()
    out: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "tidings": f"{importlib.metadata.version('tidings')} ({git or 'no git'})",
        "psycopg": importlib.metadata.version("psycopg"),
        "postgresql": {k: (str(v[0]) if v else None) for k, v in settings.items()},
    }
    for peer, script in (("dbos", "peer_dbos.py"), ("procrastinate", "peer_procrastinate.py")):
        if peer in want:
            done = subprocess.run(
                [python, str(HERE / script), "version"], capture_output=True, text=True
            )
            out[peer] = json.loads(done.stdout)[peer] if done.returncode == 0 else "not installed"
    return out


def _goal(value: float | None, target: str, met: bool | None) -> dict[str, Any]:
    return {"value": value, "target": target, "met": met}


# goal name -> (path into tidings' result, target text, test)
GOALS: dict[str, tuple[tuple[str, ...], str, Callable[[float], bool]]] = {
    "noop_end_to_end_runs_per_s": (
        ("noop_live", "end_to_end_runs_per_s"),
        f">= {NOOP_GOAL:,.0f}",
        lambda v: v >= NOOP_GOAL,
    ),
    "three_step_end_to_end_runs_per_s": (
        ("three_steps_live", "end_to_end_runs_per_s"),
        f">= {THREE_STEP_GOAL:,.0f}",
        lambda v: v >= THREE_STEP_GOAL,
    ),
    "us_per_step": (("us_per_step",), f"<= {STEP_GOAL_US:,.0f}", lambda v: v <= STEP_GOAL_US),
    "trigger_to_start_p50_ms": (
        ("latency", "p50_ms"),
        f"<= {P50_GOAL_MS:g}",
        lambda v: v <= P50_GOAL_MS,
    ),
    "trigger_to_start_p99_ms": (
        ("latency", "p99_ms"),
        f"<= {P99_GOAL_MS:g}",
        lambda v: v <= P99_GOAL_MS,
    ),
    "sleeping_runs_created_per_s": (
        ("sleeping", "park_runs_per_s"),
        f">= {PARK_GOAL:,.0f}",
        lambda v: v >= PARK_GOAL,
    ),
    "worker_rss_growth_mb_while_parking": (
        ("sleeping", "rss_delta_mb"),
        f"growth <= {RSS_FLAT_MB:g} MB (flat)",
        lambda v: v <= RSS_FLAT_MB,
    ),
}


def goals(result: dict[str, Any]) -> dict[str, Any]:
    """Each goal of issue 3 that this run measured, met or not."""
    out: dict[str, Any] = {}
    for name, (path, target, test) in GOALS.items():
        if (value := _get(result, "tidings", *path)) is not None:
            out[name] = _goal(value, target, test(value))
    noop = _get(result, "tidings", "noop_live", "end_to_end_runs_per_s")
    pg = result.get("pgbench")
    if noop is not None and isinstance(pg, dict):
        share = noop / pg["tps_4_clients"]
        out["noop_share_of_pgbench"] = _goal(
            share, f">= {PGBENCH_SHARE_GOAL:.0%}", share >= PGBENCH_SHARE_GOAL
        )
    return out


def _get(result: dict[str, Any], system: str, *path: str) -> float | None:
    node: Any = result.get(system)
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return float(node) if isinstance(node, int | float) else None


def _fmt(value: float | None, unit: str, digits: int = 0) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}{unit}"


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "n/a"
    r = a / b
    return f"{r:,.0f}x" if r >= 10 else f"{r:.2f}x" if r >= 0.1 else f"{r:.3f}x"


def _met(goals: dict[str, Any], *names: str) -> str:
    found = [goals[n] for n in names if n in goals]
    if not found:
        return ""
    return ", ".join(f"{g['target']}: {'**met**' if g['met'] else '**NOT met**'}" for g in found)


# (row label, path into each system's result, unit, digits, goal names)
ROWS: list[tuple[str, tuple[str, ...], str, int, tuple[str, ...]]] = [
    (
        "No-op, end to end (one trigger call per run), runs/s ↑",
        ("noop_live", "end_to_end_runs_per_s"),
        "",
        0,
        ("noop_end_to_end_runs_per_s",),
    ),
    ("No-op, client trigger rate, runs/s ↑", ("noop_live", "trigger_runs_per_s"), "", 0, ()),
    (
        f"No-op, end to end, tidings triggering {BATCH} per `app.trigger_many` call "
        "(peers not measured so), runs/s ↑",
        ("noop_batch_live", "end_to_end_runs_per_s"),
        "",
        0,
        (),
    ),
    (
        f"No-op, client trigger rate, {BATCH} per `app.trigger_many` call, runs/s ↑",
        ("noop_batch_live", "trigger_runs_per_s"),
        "",
        0,
        (),
    ),
    ("No-op, worker from a backlog, runs/s ↑", ("noop_backlog", "worker_runs_per_s"), "", 0, ()),
    (
        "3 steps, end to end, runs/s ↑",
        ("three_steps_live", "end_to_end_runs_per_s"),
        "",
        0,
        ("three_step_end_to_end_runs_per_s",),
    ),
    (
        "3 steps, worker from a backlog, runs/s ↑",
        ("three_steps_backlog", "worker_runs_per_s"),
        "",
        0,
        (),
    ),
    ("Per-step overhead, µs ↓", ("us_per_step",), "", 0, ("us_per_step",)),
    ("Trigger → start p50, ms ↓", ("latency", "p50_ms"), "", 1, ("trigger_to_start_p50_ms",)),
    ("Trigger → start p99, ms ↓", ("latency", "p99_ms"), "", 1, ("trigger_to_start_p99_ms",)),
    (
        "Sleeping runs: created (trigger → all parked), runs/s ↑",
        ("sleeping", "park_runs_per_s"),
        "",
        0,
        ("sleeping_runs_created_per_s",),
    ),
    (
        "Sleeping runs: worker RSS after first sample, MB",
        ("sleeping", "rss_after_first_mb"),
        "",
        0,
        (),
    ),
    (
        "Sleeping runs: worker RSS with all parked, MB ↓",
        ("sleeping", "rss_after_all_mb"),
        "",
        0,
        ("worker_rss_growth_mb_while_parking",),
    ),
    (
        "Sleeping runs: worker memory per parked run, bytes ↓",
        ("sleeping", "memory_bytes_per_parked_run"),
        "",
        0,
        (),
    ),
    ("Sleeping runs: bytes on disk per run ↓", ("sleeping", "disk_bytes_per_run"), "", 0, ()),
]


def markdown(result: dict[str, Any], command: str) -> str:
    env, g = result["environment"], result.get("goals", {})
    pg: dict[str, Any] | None = (
        result["pgbench"] if isinstance(result.get("pgbench"), dict) else None
    )
    lines = [
        "| Measurement | tidings | DBOS | Procrastinate | tidings / DBOS | "
        "tidings / Procrastinate | Goal |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, path, unit, digits, goal_names in ROWS:
        t, d, p = (_get(result, s, *path) for s in ("tidings", "dbos", "procrastinate"))
        cells = [_fmt(v, unit, digits) for v in (t, d, p)]
        lines.append(
            f"| {label} | {' | '.join(cells)} | {_ratio(t, d)} | {_ratio(t, p)} | "
            f"{_met(g, *goal_names)} |"
        )
    tidings_noop = _get(result, "tidings", "noop_live", "end_to_end_runs_per_s")
    batched = _get(result, "tidings", "noop_batch_live", "end_to_end_runs_per_s")
    d_def = _get(result, "dbos_defaults", "end_to_end_runs_per_s")
    if d_def is not None:
        lines.append(
            f"| DBOS as shipped (no per-worker limit, 1 s poll): no-op end to end, runs/s | | "
            f"{_fmt(d_def, '')} | | {_ratio(tidings_noop, d_def)} | | |"
        )
    for system in ("tidings", "dbos", "procrastinate"):
        failed = result.get(system, {}).get("failed", {})
        for measurement, why in failed.items():
            lines.append(f"| {system} {measurement}: {why} | | | | | | |")
    pgs = env["postgresql"]
    n_sleep = _get(result, "tidings", "sleeping", "runs") or _get(
        result, "dbos", "sleeping", "runs"
    )
    return f"""{PEERS_BEGIN}
# PostgreSQL, side by side (bench/peers.py)

- Generated by `{command}` on {env["date"]}; reproduce with `make bench-peers`
  (`BENCH_ARGS=--quick` for small sizes).
- Machine: {env["cores"]} cores, {env["platform"]}; load average at start
  {env["load_average_at_start"]}, at end {env["load_average_at_end"]}.{_note(env)}
- PostgreSQL {pgs["server_version"]} on 127.0.0.1: synchronous_commit {pgs["synchronous_commit"]},
  fsync {pgs["fsync"]}, shared_buffers {pgs["shared_buffers"]}.
- Versions: tidings {env["tidings"]}, DBOS {env.get("dbos", "not run")}, Procrastinate
  {env.get("procrastinate", "not run")}, psycopg {env["psycopg"]}, Python {env["python"]},
  pgbench {pg["version"] if pg else "not run"}.

{chr(10).join(lines)}

{_pgbench_table(pg, tidings_noop, g, batched)}

↑ higher is better, ↓ lower is better; a ratio is tidings' figure divided by the peer's.

**Method.** One worker process per system with concurrency 10, every measurement on a
fresh database this script creates and drops, the systems interleaved (each measurement
for all of them before the next). tidings: `app.run_worker(concurrency=10)` (bench/core.py's
worker, library defaults). DBOS: one queue with `worker_concurrency=10`; DBOS dequeues at
most the free slots per poll, so its default 1 s poll would cap it at 10 runs/s, and the
table uses a {result["settings"]["dbos_poll_s"]:g} s poll instead (its best at this
setting; the "as shipped" row is DBOS's own defaults, no per-worker limit). Procrastinate:
`app.run_worker(concurrency=10)` with LISTEN/NOTIFY. Every client triggers one run per
call, in its own process (tidings: `app.trigger`; DBOS: `DBOSClient.enqueue`;
Procrastinate: `defer_async`); the goals are judged on these. tidings alone is also
measured triggering {BATCH} runs per `app.trigger_many` call (one transaction and one
wake-up per call), marked as such: a batch API the peers were not measured with.

- End to end: N = {result["settings"]["runs"]:,} runs / (last completion - first
  trigger), the worker idle for {IDLE_BEFORE:g} s before the burst. "From a backlog" queues
  the N runs first and divides by (last completion - first start).
- Per-step overhead: (3-step - no-op) worker time per run from the backlogs, divided by 3.
- Trigger → start: {result["settings"]["latency"]} sequential triggers, each
  {LATENCY_GAP[0] * 1000:g}-{LATENCY_GAP[1] * 1000:g} ms (at random) after the previous
  run ended, from just before the trigger call to the start the system records (tidings
  `started_at`, DBOS `started_at_epoch_ms` at dequeue, Procrastinate's `started` event).
- Sleeping runs: the client triggers {n_sleep or 0:,.0f} runs that sleep an hour while the
  worker runs (tidings `await ctx.sleep(timedelta(hours=1))`; DBOS
  `DBOS.sleep_async(3600)` on a queue without a per-worker limit, since a sleeping DBOS
  workflow holds its slot; Procrastinate has no sleep inside a job, so its rows are no-op
  jobs deferred with `schedule_in={{"hours": 1}}`, which the worker never touches and its
  RSS says nothing about). "Created" is runs / (all parked - first trigger); RSS is the
  worker's VmRSS after the first ~{result["settings"]["first"]:,} are parked and after all;
  bytes on disk is `pg_total_relation_size` of every table of the system once all are
  parked (dead row versions included, as a live system has them).
- pgbench: `{PGBENCH_SCRIPT.strip()}` (`-M prepared`, {pg["seconds"] if pg else 0} s),
  on the same server, before and after the rest; the table uses the mean.
{PEERS_END}
"""


def _note(env: dict[str, Any]) -> str:
    return f"\n- Note: {env['note']}." if "note" in env else ""


def _pgbench_table(
    pg: dict[str, Any] | None,
    tidings_noop: float | None,
    g: dict[str, Any],
    batched: float | None = None,
) -> str:
    if pg is None:
        return "pgbench: not run."
    rows = [
        "| Physical reference (same server, same run) | tps | tidings no-op end to end ÷ it "
        f"(one trigger per run; {BATCH} per `trigger_many`) | Goal |",
        "|---|---|---|---|",
    ]
    for clients, goal in ((4, _met(g, "noop_share_of_pgbench")), (1, "")):
        key = f"tps_{clients}_clients"
        each = " / ".join(f"{x:,}" for x in pg.get(f"{key}_each", []))
        rows.append(
            f"| pgbench, one-row INSERT + COMMIT, {clients} client{'s' if clients > 1 else ''} "
            f"| {_fmt(pg[key], '')} (before / after: {each}) | {_ratio(tidings_noop, pg[key])}; "
            f"{_ratio(batched, pg[key])} | {goal} |"
        )
    return "\n".join(rows)


# -- main ----------------------------------------------------------------------------------
def default_peer_python() -> str:
    venv = ROOT / ".venv-bench" / "bin" / "python"
    return os.environ.get("BENCH_PEER_PYTHON") or (str(venv) if venv.exists() else sys.executable)


def run_all(args: argparse.Namespace) -> dict[str, Any]:
    sizes = QUICK if args.quick else FULL
    want = {s for item in args.only or SYSTEMS for s in item.split(",")}
    if unknown := want - set(SYSTEMS):
        raise SystemExit(f"--only: unknown {sorted(unknown)}; choose from {SYSTEMS}")
    server_started()  # waits if the server is restarting
    drop_stale_databases()
    result: dict[str, Any] = {
        "environment": versions(args.peer_python, want),
        "settings": {
            "quick": args.quick,
            "concurrency": CONCURRENCY,
            "runs": sizes.runs,
            "latency": sizes.latency,
            "sleeping": sizes.sleeping,
            "first": sizes.first,
            "dbos_poll_s": args.dbos_poll,
        },
    }
    with tempfile.TemporaryDirectory(prefix="tidings-peers-") as d:
        tmp = Path(d)
        errors = (tmp / "peers.log").open("w")
        makers: dict[str, Callable[[str], Target]] = {
            "tidings": TidingsTarget,
            "dbos": lambda db: DbosTarget(
                db, args.peer_python, errors, args.dbos_poll, CONCURRENCY
            ),
            "procrastinate": lambda db: ProcrastinateTarget(db, args.peer_python, errors),
        }
        bench = functools.partial(
            unrestarted, "pgbench", functools.partial(pgbench, sizes.pgbench_seconds, tmp)
        )
        before = _guard("pgbench", bench) if "pgbench" in want else None
        chosen = {name: make for name, make in makers.items() if name in want}
        result |= measure_all(chosen, sizes, errors)
        if isinstance(result.get("dbos"), dict):
            defaults = lambda db: DbosTarget(db, args.peer_python, errors, 1.0, 0)  # noqa: E731
            run = functools.partial(dbos_defaults, defaults, sizes.runs)
            result["dbos_defaults"] = _guard("dbos", functools.partial(unrestarted, "dbos", run))
        if before is not None:
            result["pgbench"] = _pgbench_twice(before, _guard("pgbench", bench))
        errors.close()
    result["goals"] = goals(result)
    env = result["environment"]
    env["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    if server_started() != env["postgresql"]["started"]:
        env["note"] = "PostgreSQL restarted during the run; the measurements it hit were redone"
        log(env["note"])
    return result


def _pgbench_twice(before: Any, after: Any) -> Any:
    """pgbench before and after the rest: the mean of the two is the reference."""
    runs = [r for r in (before, after) if isinstance(r, dict)]
    if not runs:
        return before
    out = dict(runs[0])
    for key in ("tps_4_clients", "tps_1_clients"):
        out[key] = statistics.fmean(r[key] for r in runs)
        out[f"{key}_each"] = [round(r[key]) for r in runs]
    return out


def _guard(name: str, fn: Callable[[], Any], errors: IO[str] | None = None) -> Any:
    """A system that fails is reported as such; the others still run."""
    try:
        return fn()
    except Exception as exc:  # any failure of one system is reported, not fatal
        tail = ""
        if errors is not None:
            errors.flush()
            tail = " | ".join(Path(errors.name).read_text().strip().splitlines()[-5:])
        log(f"{name} FAILED: {exc} {tail}")
        return f"failed: {exc}"


def main() -> None:
    parser = argparse.ArgumentParser(description="tidings vs DBOS, Procrastinate, pgbench on PG")
    parser.add_argument("--quick", action="store_true", help="small sizes, for smoke tests")
    parser.add_argument(
        "--only", action="append", metavar="SYSTEM", help=f"any of {', '.join(SYSTEMS)}"
    )
    parser.add_argument(
        "--peer-python", default=default_peer_python(), help="python with dbos and procrastinate"
    )
    parser.add_argument("--dbos-poll", type=float, default=DBOS_POLL, help="DBOS queue poll, s")
    parser.add_argument("--no-write", action="store_true", help="do not write RESULTS.md")
    args = parser.parse_args()
    result = run_all(args)
    for name, goal in result["goals"].items():
        log(
            f"goal {name}: {goal['value']:,.2f} (target {goal['target']}): "
            + ("met" if goal["met"] else "NOT met")
        )
    if not args.no_write:
        command = (
            "make bench-peers"
            if not sys.argv[1:]
            else shlex.join([".venv-bench/bin/python", "bench/peers.py", *sys.argv[1:]])
        )
        write_section("peers", markdown(result, command))
        log(f"wrote {RESULTS}")
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
