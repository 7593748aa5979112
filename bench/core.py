"""Core engine benchmarks on embedded SQLite (``make bench``).

Every measurement uses a fresh SQLite file in a temporary directory and ONE worker,
started with ``app.run_worker(...)`` in a separate process exactly as ``tidings worker``
runs it. This process is the client: it triggers runs with ``app.trigger`` on its own
connection and reads progress through the public API (``count_runs``, ``list_runs``).

Prints one JSON object to stdout (progress goes to stderr) and writes bench/RESULTS.md.

    .venv/bin/python bench/core.py                  # full sizes (about 3 minutes)
    .venv/bin/python bench/core.py --quick          # small sizes, for smoke tests
    .venv/bin/python bench/core.py --dbos-python /tmp/dbos-venv/bin/python
                                                    # also measure DBOS Transact (peer)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: the repository root is not on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import RESULTS, WorkerProcess, log, park_sleepers, wait_for, write_head
from tidings import Context, RunStatus, Tidings

# Worker settings, as a user runs `tidings worker`: the library defaults.
CONCURRENCY = 10  # Worker(concurrency=10)
BATCH_SIZE: int | None = None  # None: one claim query takes up to `concurrency` runs
POLL_INTERVAL = 1.0  # seconds an idle worker waits before looking again

NOOP_GOAL = 2000.0  # runs/s end to end
STEP_GOAL_US = 1000.0  # µs added per step
RSS_FLAT_MB = 5.0  # growth allowed between 1,000 and 100,000 parked runs


# -- the tasks under test ------------------------------------------------------------------
async def _trivial(i: int) -> int:
    return i


def _trivial_sync(i: int) -> int:
    return i


def build_app(url: str) -> Tidings:
    """One app with every task the benchmark uses (the worker process builds the same)."""
    app = Tidings(url)

    @app.task(id="noop")
    async def noop(ctx: Context, payload: dict[str, Any]) -> None:
        return None

    @app.task(id="three-steps")
    async def three_steps(ctx: Context, payload: dict[str, Any]) -> int:
        a = await ctx.step("a", _trivial, 1)
        b = await ctx.step("b", _trivial, 2)
        c = await ctx.step("c", _trivial, 3)
        return int(a + b + c)

    @app.task(id="steps-async")
    async def steps_async(ctx: Context, payload: dict[str, Any]) -> None:
        for i in range(int(payload["steps"])):
            await ctx.step("s", _trivial, i)

    @app.task(id="steps-sync")
    async def steps_sync(ctx: Context, payload: dict[str, Any]) -> None:
        for i in range(int(payload["steps"])):
            await ctx.step("s", _trivial_sync, i)

    @app.task(id="sleeper")
    async def sleeper(ctx: Context, payload: dict[str, Any]) -> None:
        await ctx.sleep(timedelta(hours=1))

    @app.task(id="sleeper-day")
    async def sleeper_day(ctx: Context, payload: dict[str, Any]) -> None:
        await ctx.sleep(timedelta(days=1))

    return app


def worker_main(url: str, concurrency: int) -> None:
    """The worker subprocess (``core.py --worker URL``): runs until SIGTERM, then drains."""
    app = build_app(url)
    _ = app.store  # open and migrate before saying ready
    print("ready", flush=True)
    options: dict[str, Any] = {"poll_interval": POLL_INTERVAL}
    if BATCH_SIZE is not None:
        options["batch_size"] = BATCH_SIZE
    app.run_worker(concurrency=concurrency, **options)


# -- harness -------------------------------------------------------------------------------
def tidings_worker(url: str, concurrency: int) -> WorkerProcess:
    """This file's worker (``--worker``) on ``url``, ready to claim."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", url]
    return WorkerProcess([*cmd, "--concurrency", str(concurrency)])


def open_app(tmp: Path, name: str) -> tuple[str, Tidings]:
    url = f"sqlite:///{tmp / (name + '.db')}"
    app = build_app(url)
    _ = app.store  # create the schema before the worker starts
    return url, app


def span(app: Tidings, task_id: str, n: int) -> tuple[float, float]:
    """(first started_at, last finished_at) of the task's runs, as Unix seconds."""
    runs = app.list_runs(task_id=task_id, limit=n)
    first = min(r.started_at for r in runs if r.started_at is not None)
    last = max(r.finished_at for r in runs if r.finished_at is not None)
    return first.timestamp(), last.timestamp()


def trigger_many(app: Tidings, task_id: str, n: int, payload: Any) -> tuple[float, float]:
    t0 = time.time()
    for _ in range(n):
        app.trigger(task_id, payload)
    return t0, time.time()


# -- 1 and 2: throughput end to end --------------------------------------------------------
@dataclass
class Throughput:
    task: str
    runs: int
    trigger_runs_per_s: float
    end_to_end_runs_per_s: float
    """N / (last COMPLETED - first trigger)."""
    worker_runs_per_s: float
    """N / (last COMPLETED - first started): the worker alone, without pickup latency."""
    first_pickup_ms: float


def measure_live(
    tmp: Path, name: str, task_id: str, n: int, payload: Any, concurrency: int
) -> Throughput:
    """An idle worker; the client triggers N runs; time to the last COMPLETED."""
    url, app = open_app(tmp, name)
    worker = tidings_worker(url, concurrency)
    # Trigger 1.5 poll intervals after the worker started: the burst lands half-way
    # through an idle wait. The worker notices another process's commit through SQLite's
    # data_version (checked every 25 ms), so pickup does not wait for the poll.
    time.sleep(1.5 * POLL_INTERVAL)
    try:
        t0, t1 = trigger_many(app, task_id, n, payload)
        wait_for(app, RunStatus.COMPLETED, n, timeout=600)
        first_start, last_end = span(app, task_id, n)
    finally:
        worker.stop()
        app.close()
    return Throughput(
        task=task_id,
        runs=n,
        trigger_runs_per_s=n / (t1 - t0),
        end_to_end_runs_per_s=n / (last_end - t0),
        worker_runs_per_s=n / (last_end - first_start),
        first_pickup_ms=(first_start - t0) * 1000,
    )


def median_live(
    tmp: Path, task_id: str, n: int, payload: Any, concurrency: int, repeats: int
) -> dict[str, Any]:
    trials = [
        measure_live(tmp, f"{task_id}-{i}", task_id, n, payload, concurrency)
        for i in range(repeats)
    ]
    trials.sort(key=lambda t: t.end_to_end_runs_per_s)
    middle = asdict(trials[len(trials) // 2])
    middle["repeats"] = repeats
    middle["end_to_end_all"] = [round(t.end_to_end_runs_per_s) for t in trials]
    log(
        f"{task_id}: trigger {middle['trigger_runs_per_s']:.0f}/s, end to end "
        f"{middle['end_to_end_runs_per_s']:.0f}/s, worker {middle['worker_runs_per_s']:.0f}/s"
    )
    return middle


# -- 3: per-step overhead ------------------------------------------------------------------
def measure_backlog(
    tmp: Path, name: str, task_id: str, n: int, payload: Any, concurrency: int
) -> float:
    """N runs queued before the worker starts: worker seconds per run."""
    url, app = open_app(tmp, name)
    trigger_many(app, task_id, n, payload)
    worker = tidings_worker(url, concurrency)
    try:
        wait_for(app, RunStatus.COMPLETED, n, timeout=900)
        first_start, last_end = span(app, task_id, n)
    finally:
        worker.stop()
        app.close()
    return (last_end - first_start) / n


def measure_steps(
    tmp: Path, n: int, steps: int, concurrency: int, repeats: int
) -> dict[str, float]:
    """µs per run for 0 steps and `steps` async / sync steps; µs added per step."""
    cases = {
        "zero": ("steps-async", 0),
        "async": ("steps-async", steps),
        "sync": ("steps-sync", steps),
    }
    per_run: dict[str, list[float]] = {case: [] for case in cases}
    for i in range(repeats):  # interleaved, so drift in machine load hits every case
        for case, (task_id, count) in cases.items():
            name = f"c{concurrency}-{case}-{i}"
            seconds = measure_backlog(tmp, name, task_id, n, {"steps": count}, concurrency)
            per_run[case].append(seconds * 1e6)
    med = {case: statistics.median(values) for case, values in per_run.items()}
    out: dict[str, float] = {"runs": n, "steps": steps, "concurrency": concurrency}
    out |= {f"{case}_us_per_run": med[case] for case in cases}
    out |= {f"{k}_us_per_step": (med[k] - med["zero"]) / steps for k in ("async", "sync")}
    log(
        f"steps (concurrency {concurrency}): async {out['async_us_per_step']:.0f} µs/step, "
        f"sync {out['sync_us_per_step']:.0f} µs/step"
    )
    return out


def concurrency_sweep(tmp: Path, n: int, levels: tuple[int, ...]) -> dict[str, float]:
    """No-op worker throughput from a backlog at several concurrency settings."""
    out = {}
    for level in levels:
        seconds = measure_backlog(tmp, f"sweep-{level}", "noop", n, {}, level)
        out[str(level)] = 1 / seconds
    log("noop backlog runs/s by concurrency: " + ", ".join(f"{k}: {v:.0f}" for k, v in out.items()))
    return out


# -- 4: memory of a worker holding many sleeping runs --------------------------------------
def measure_memory(tmp: Path, n: int, first: int, concurrency: int) -> dict[str, Any]:
    """The worker parks N runs in ``ctx.sleep(1 h)``; its RSS after `first` and after N."""
    url, app = open_app(tmp, "sleep")
    try:
        out = park_sleepers(
            app,
            lambda: trigger_many(app, "sleeper", n, None),
            lambda: tidings_worker(url, concurrency),
            n,
            first,
            idle_poll=POLL_INTERVAL,
        )
    finally:
        app.close()
    log(
        f"memory: {out['rss_after_first_mb']:.1f} MB at {out['waiting_at_first_sample']} "
        f"waiting, {out['rss_after_all_mb']:.1f} MB at {n} "
        f"(parked in {out['seconds_to_park_all']:.1f}s)"
    )
    return out


# -- optional peer: DBOS Transact on SQLite ------------------------------------------------
# Run with another interpreter (a throwaway venv with `pip install dbos`), never imported
# here: DBOS is not a dependency of tidings. Same method as measure_live: a worker process
# (DBOS app with one queue) idle for 1.5 poll intervals, a client process enqueueing N
# no-op workflows with DBOSClient, time from the first enqueue to the last SUCCESS.
DBOS_PEER = r"""
import json, os, signal, sqlite3, sys, threading, time
from dbos import DBOS, DBOSClient

mode, path = sys.argv[1], sys.argv[2]
url = "sqlite:///" + path
if mode == "worker":
    DBOS(config={"name": "bench", "system_database_url": url})

    @DBOS.workflow(name="noop")
    async def noop() -> None:
        return None

    DBOS.launch()
    conc = int(sys.argv[3]) or None
    DBOS.register_queue("bench", worker_concurrency=conc, polling_interval_sec=float(sys.argv[4]))
    print("ready", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    DBOS.destroy()
else:
    n = int(sys.argv[3])
    client = DBOSClient(system_database_url=url)
    t0 = time.time()
    for _ in range(n):
        client.enqueue({"queue_name": "bench", "workflow_name": "noop"})
    t1 = time.time()
    db = sqlite3.connect(path)
    query = "SELECT COUNT(*) FROM workflow_status WHERE status = 'SUCCESS'"
    while db.execute(query).fetchone()[0] < n:
        time.sleep(0.02)
    t2 = time.time()
    import importlib.metadata as md
    print(json.dumps({"version": md.version("dbos"), "runs": n,
                      "trigger_runs_per_s": n / (t1 - t0),
                      "end_to_end_runs_per_s": n / (t2 - t0)}))
"""


def measure_dbos(tmp: Path, python: str, n: int, concurrency: int) -> dict[str, Any]:
    script = tmp / "dbos_peer.py"
    script.write_text(DBOS_PEER)
    db = str(tmp / "dbos.db")
    errors = (tmp / "dbos_worker.log").open("w")
    cmd = [python, str(script), "worker", db, str(concurrency), str(POLL_INTERVAL)]
    worker = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errors, text=True)
    try:
        assert worker.stdout is not None
        if worker.stdout.readline().strip() != "ready":
            raise RuntimeError(f"DBOS worker did not start; see {errors.name}")
        time.sleep(1.5 * POLL_INTERVAL)
        done = subprocess.run(
            [python, str(script), "client", db, str(n)],
            capture_output=True,
            text=True,
            timeout=1800,
            check=True,
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
        errors.close()
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    out["worker_concurrency"] = concurrency or "unlimited"
    out["polling_interval_s"] = POLL_INTERVAL
    log(f"DBOS {out['version']}: end to end {out['end_to_end_runs_per_s']:.0f}/s")
    return out


# -- report --------------------------------------------------------------------------------
def environment(quick: bool, concurrency: int) -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "quick": quick,
        "worker": {
            "concurrency": concurrency,
            "batch_size": BATCH_SIZE or concurrency,
            "poll_interval_s": POLL_INTERVAL,
            "process": "separate (app.run_worker, as `tidings worker`)",
        },
    }


def goals(result: dict[str, Any]) -> dict[str, Any]:
    noop = result["noop"]["end_to_end_runs_per_s"]
    worst_step = max(
        s[f"{kind}_us_per_step"] for s in result["step_overhead"] for kind in ("async", "sync")
    )
    mem = result["memory"]
    return {
        "noop_end_to_end_runs_per_s": {"value": noop, "target": f">= {NOOP_GOAL:.0f}"}
        | {"met": noop >= NOOP_GOAL},
        "worst_us_added_per_step": {"value": worst_step, "target": f"<= {STEP_GOAL_US:.0f}"}
        | {"met": worst_step <= STEP_GOAL_US},
        "rss_growth_mb_while_parking": {
            "value": mem["rss_delta_mb"],
            "target": f"<= {RSS_FLAT_MB:.0f} (flat)",
            "met": mem["rss_delta_mb"] <= RSS_FLAT_MB,
        },
    }


def _yes(met: bool) -> str:
    return "**met**" if met else "**NOT met**"


def markdown(result: dict[str, Any]) -> str:
    env, noop, three, mem, g = (
        result["environment"],
        result["noop"],
        result["three_steps"],
        result["memory"],
        result["goals"],
    )
    conc = env["worker"]["concurrency"]
    steps = {s["concurrency"]: s for s in result["step_overhead"]}
    user, single = steps[conc], steps.get(1)
    rows = [
        ("No-op: trigger throughput (client)", f"{noop['trigger_runs_per_s']:,.0f} runs/s", ""),
        (
            "No-op: end to end (first trigger → last COMPLETED)",
            f"{noop['end_to_end_runs_per_s']:,.0f} runs/s",
            f"≥ {NOOP_GOAL:,.0f}: {_yes(g['noop_end_to_end_runs_per_s']['met'])}",
        ),
        ("No-op: worker alone (first start → last COMPLETED)", _rate(noop), ""),
        ("No-op: first pickup by an idle worker", f"{noop['first_pickup_ms']:.0f} ms", ""),
        ("3 async steps: end to end", f"{three['end_to_end_runs_per_s']:,.0f} runs/s", ""),
        ("3 async steps: worker alone", _rate(three), ""),
        (
            f"µs per step, async / sync (concurrency {conc})",
            _per_step(user),
            f"≤ {STEP_GOAL_US:,.0f}: {_yes(g['worst_us_added_per_step']['met'])}",
        ),
    ]
    if single is not None:
        rows.append(("µs per step, async / sync (concurrency 1, latency)", _per_step(single), ""))
    rows += [
        (
            f"RSS after {mem['waiting_at_first_sample']:,} / {mem['runs']:,} runs WAITING",
            f"{mem['rss_after_first_mb']:.1f} / {mem['rss_after_all_mb']:.1f} MB "
            f"(Δ {mem['rss_delta_mb']:+.1f} MB, peak {mem['rss_peak_mb']:.1f})",
            f"flat (Δ ≤ {RSS_FLAT_MB:.0f} MB): {_yes(g['rss_growth_mb_while_parking']['met'])}",
        ),
        (
            f"Time to park {mem['runs']:,} sleeping runs",
            f"{mem['seconds_to_park_all']:.1f} s ({mem['park_runs_per_s']:,.0f} runs/s)",
            "",
        ),
    ]
    sweep = result.get("concurrency_sweep") or {}
    if sweep:
        rows.append(
            (
                "No-op worker runs/s by concurrency (backlog)",
                ", ".join(f"{k}: {v:,.0f}" for k, v in sweep.items()),
                "",
            )
        )
    rows += _peer_rows(result)
    table = "\n".join(f"| {a} | {b} | {c} |" for a, b, c in rows)
    w = env["worker"]
    return f"""# Core benchmark results

Generated by `make bench` (`bench/core.py`{" --quick" if env["quick"] else ""}) on
{env["date"]}: {env["cores"]} cores, Python {env["python"]}, SQLite {env["sqlite"]},
{env["platform"]}; load average at start {env["load_average_at_start"]}.

| Measurement | Result | Goal |
|---|---|---|
{table}

**Method.** Each figure uses a fresh SQLite file (WAL) in a temporary directory and one
worker running in its own process via `app.run_worker(concurrency={w["concurrency"]})`,
which is what `tidings worker` runs: library defaults, so batch size {w["batch_size"]}
(one claim query takes up to `concurrency` runs) and a {w["poll_interval_s"]:g} s idle poll.
The benchmark process is the client, triggering with `app.trigger` on its own connection,
like an API server beside a worker. A separate process is the honest end to end: the
client and the worker contend for the SQLite write lock and the two cores, and there is no
in-process wake-up: the idle worker sees the client's commit through SQLite's
`data_version`, which it checks every 25 ms. The worker is idle for 1.5 poll intervals
before the burst, so "first pickup" is the latency of an idle worker in another process.
End to end is runs / (last `finished_at` - first trigger); "worker alone" is runs / (last
`finished_at` - first `started_at`). Throughput rows are the median of
{noop["repeats"]} trials. Per-step overhead drains a queued backlog of 0-step and 20-step
runs and divides the difference in time per run by 20. Memory is the worker's VmRSS from
`/proc/<pid>/status` while it executes runs that `await ctx.sleep(timedelta(hours=1))`
(queued beforehand); a constant couple of MB of growth is SQLite's page cache (2 MiB by
default), not memory per run. The concurrency row drains a queued backlog of no-op runs.
{PEER_NOTE if "peer_dbos" in result else ""}"""


PEER_NOTE = """
**Peer.** DBOS Transact is measured the same way, from a throwaway venv (never a
dependency here): a DBOS app with one queue in its own process, idle for 1.5 poll
intervals, and a `DBOSClient` process enqueueing no-op `async` workflows, timed from the
first enqueue to the last `SUCCESS` row. Its queue uses DBOS's defaults (no per-worker
limit, 1 s polling): with `worker_concurrency=10`, our setting, DBOS dequeues at most 10
workflows per poll, about 10 runs/s.
"""


def _rate(t: dict[str, Any]) -> str:
    return f"{t['worker_runs_per_s']:,.0f} runs/s"


def _per_step(s: dict[str, Any]) -> str:
    return f"{s['async_us_per_step']:,.0f} / {s['sync_us_per_step']:,.0f} µs"


def _peer_rows(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    peer = result.get("peer_dbos")
    if not isinstance(peer, dict) or "end_to_end_runs_per_s" not in peer:
        note = peer if isinstance(peer, str) else "not measured (pass --dbos-python)"
        return [("Peer: DBOS Transact on SQLite", note, "")]
    ratio = result["noop"]["end_to_end_runs_per_s"] / peer["end_to_end_runs_per_s"]
    trig = result["noop"]["trigger_runs_per_s"] / peer["trigger_runs_per_s"]
    return [
        (
            f"Peer: DBOS {peer['version']} no-op end to end (queue worker_concurrency "
            f"{peer['worker_concurrency']}, poll {peer['polling_interval_s']:g} s)",
            f"{peer['end_to_end_runs_per_s']:,.0f} runs/s; enqueue "
            f"{peer['trigger_runs_per_s']:,.0f}/s",
            f"tidings ÷ DBOS: {ratio:.1f}x end to end, {trig:.1f}x trigger",
        )
    ]


# -- main ----------------------------------------------------------------------------------
def run_all(args: argparse.Namespace) -> dict[str, Any]:
    quick, conc = args.quick, args.concurrency
    n = 500 if quick else 5000
    repeats = 1 if quick else 3
    result: dict[str, Any] = {"environment": environment(quick, conc)}
    with tempfile.TemporaryDirectory(prefix="tidings-bench-") as d:
        tmp = Path(d)
        result["noop"] = median_live(tmp, "noop", n, {}, conc, repeats)
        result["three_steps"] = median_live(tmp, "three-steps", n, {}, conc, repeats)
        result["step_overhead"] = [
            measure_steps(tmp, 100 if quick else 1000, 20, conc, repeats),
            measure_steps(tmp, 20 if quick else 200, 20, 1, repeats),
        ]
        levels = (1, 10, 50) if quick else (1, 10, 50, 100)
        result["concurrency_sweep"] = concurrency_sweep(tmp, n, levels)
        result["memory"] = measure_memory(tmp, 3000 if quick else 100_000, 1000, conc)
        if args.dbos_python:
            try:
                result["peer_dbos"] = measure_dbos(
                    tmp, args.dbos_python, 300 if quick else 2000, args.dbos_concurrency
                )
            except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
                result["peer_dbos"] = f"failed: {exc}"
    result["goals"] = goals(result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description="tidings core benchmarks on SQLite")
    parser.add_argument("--quick", action="store_true", help="small sizes, for smoke tests")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument(
        "--dbos-python",
        default=os.environ.get("BENCH_DBOS_PYTHON"),
        help="python of a throwaway venv with `dbos` installed: also measure DBOS",
    )
    parser.add_argument(
        "--dbos-concurrency",
        type=int,
        default=0,
        help="DBOS queue worker_concurrency (0: unlimited, the DBOS default)",
    )
    parser.add_argument("--no-write", action="store_true", help="do not write RESULTS.md")
    parser.add_argument("--worker", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main(args.worker, args.concurrency)
        return
    result = run_all(args)
    for name, goal in result["goals"].items():
        log(
            f"goal {name}: {goal['value']:.1f} (target {goal['target']}): "
            + ("met" if goal["met"] else "NOT met")
        )
    if not args.no_write:
        write_head(markdown(result))
        log(f"wrote {RESULTS}")
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
