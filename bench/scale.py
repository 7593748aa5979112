"""Cost per operation against the size of the work, on both stores.

For each backlog (1k, 10k, 100k, 1M runs asleep until tomorrow; ``--max`` caps it) a
fresh store is filled with ``trigger_many``'s store call, then each hot path is timed
on top of that backlog, in microseconds per operation:

- trigger: one run created (``store.runs.create``);
- claim+complete: a due run claimed (batches of 50) and its attempt ended COMPLETED
  (the batch's ends in one group commit, as the worker's writer does);
- timer fired: a run asleep on a sleep step whose wake time has come, claimed with its
  steps and completed;
- event matched: an event sent that resumes the one run waiting for it;
- notification recorded: a notification with an in-app delivery (dedup key, inbox item).

Then a tenth of the backlog (100,000 of the million) comes due at the rate of 100,000 a
minute and a claiming loop (claim 50, complete them in one group commit: a worker's
store traffic) takes them: timer lateness p50/p99 is how long after its due time each
was claimed. RSS is this process's (it is the claiming process). Measured at the store, the layer
this benchmark is about; bench/core.py measures a worker process end to end.

``--park N`` measures the same end to end at N runs (a million for the goal): ``trigger_many``
queues N runs of a task that sleeps a day, then one real worker process (``tidings worker``'s
``app.run_worker``, concurrency 50) parks them all: runs queued/s, runs parked/s, the
worker's RSS idle, after the first 1,000 and after all; section ``scale-park`` of
RESULTS.md. ``--no-sweep`` skips the per-operation backlogs (only the parking).

``--before FILE`` (repeatable: the park table shows every one, the backlog table the
first) adds the figures of an earlier run (its JSON output, e.g. measured
with PYTHONPATH pointing at an older tree) beside these in the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: the repository root is not on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import tidings
from bench.common import log, park_sleepers, write_section
from bench.core import POLL_INTERVAL, build_app, tidings_worker
from tidings.matching import canonical, shape
from tidings.records.notify import Channel, DeliveryStatus
from tidings.records.runs import RunStatus
from tidings.store import open_store
from tidings.store.base import Store
from tidings.store.events import NewEvent
from tidings.store.notifications import NewDelivery, NewNotification
from tidings.store.runs import EventWait, NewRun, Outcome, StepRecord, WriteOp

SIZES = (1_000, 10_000, 100_000, 1_000_000)
QUICK_SIZES = (1_000, 10_000)
PG_SERVER = os.environ.get(
    "TIDINGS_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
COHORT_AT = NOW + timedelta(hours=1)  # when the lateness cohort starts coming due
ASLEEP_UNTIL = NOW + timedelta(days=1)
TTL = timedelta(days=1)
BATCH = 50
CREATE_CHUNK = 20_000
COHORT_RATE = 100_000 / 60  # runs coming due per second: 100,000 in a minute
GOAL_RATIO = 1.5
GOAL_LATENESS_P99_S = 1.0
PARK_CONCURRENCY = 50  # the worker of --park, as `tidings worker --concurrency 50`
PARK_CHUNK = 10_000  # runs per trigger_many call while queueing the sleepers
PARK_FIRST = 1_000  # RSS is sampled once this many are parked, and again after all
GOAL_PARK_PER_S = 3_000.0
RSS_FLAT_MB = 5.0


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS line")


# -- stores --------------------------------------------------------------------------------
@contextmanager
def fresh_url(backend: str, tmp: Path, name: str) -> Iterator[str]:
    """The URL of an empty store (a new SQLite file, or a new PostgreSQL schema), removed
    on the way out."""
    if backend == "sqlite":
        path = tmp / f"{name}.db"
        try:
            yield f"sqlite:///{path}"
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    import psycopg

    schema = f"tidings_scale_{uuid.uuid4().hex[:12]}"
    sep = "&" if "?" in PG_SERVER else "?"
    try:
        yield f"{PG_SERVER}{sep}schema={schema}"
    finally:
        with psycopg.connect(PG_SERVER, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@contextmanager
def fresh_store(backend: str, tmp: Path, size: int) -> Iterator[Store]:
    with fresh_url(backend, tmp, f"scale_{size}") as url:
        store = open_store(url)
        try:
            store.migrate()
            yield store
        finally:
            store.close()


def cohort_size(size: int) -> int:
    return max(size // 10, 100)


def cohort_due(i: int) -> datetime:
    return COHORT_AT + timedelta(seconds=i / COHORT_RATE)


def fill(store: Store, size: int) -> float:
    """``size`` runs: a tenth due in the cohort's minute, the rest asleep until tomorrow."""
    cohort = cohort_size(size)
    started = time.perf_counter()
    for lo in range(0, size, CREATE_CHUNK):
        news = [
            NewRun(
                f"b{i:07d}",
                "sleeper",
                "default",
                0,
                "{}",
                cohort_due(i) if i < cohort else ASLEEP_UNTIL,
            )
            for i in range(lo, min(size, lo + CREATE_CHUNK))
        ]
        store.runs.create_many(news, NOW, TTL)
    return time.perf_counter() - started


# -- hot paths -----------------------------------------------------------------------------
def per_op_us(n: int, action: Callable[[], int]) -> tuple[float, float]:
    """Microseconds per operation of ``action`` (which returns how many it did): wall
    time, and this process's CPU time (on SQLite all the work is in this process, and
    on a shared machine CPU time is the figure that waiting for a core does not blur)."""
    wall, cpu = time.perf_counter(), time.process_time()
    done = 0
    while done < n:
        did = action()
        if did == 0:
            raise RuntimeError("a timed operation did nothing")
        done += did
    return (time.perf_counter() - wall) / done * 1e6, (time.process_time() - cpu) / done * 1e6


def claim_and_complete(store: Store, now: datetime, limit: int = BATCH) -> int:
    """Claim a batch and end every attempt COMPLETED in one group commit, as a worker's
    writer does (``write_batch``)."""
    claimed = store.runs.claim("bench", None, now, now + timedelta(minutes=5), limit=limit)
    done = Outcome(RunStatus.COMPLETED, result="null", finished_at=now, ended_at=now)
    errors = store.runs.write_batch([WriteOp(r.id, r.lease_token, outcome=done) for r in claimed])
    if any(errors):
        raise RuntimeError(f"a completion failed: {next(e for e in errors if e)}")
    return len(claimed)


def measure(store: Store, tag: str, k: int) -> dict[str, float]:
    out: dict[str, float] = {}
    # trigger
    seq = iter(range(10**9))

    def trigger() -> int:
        store.runs.create(NewRun(f"{tag}t{next(seq)}", "job", "default", 0, "{}", NOW), NOW, TTL)
        return 1

    out["trigger_us"], out["trigger_cpu_us"] = per_op_us(k, trigger)
    # claim + complete: the runs just triggered are due now; the backlog sleeps
    out["claim_complete_us"], out["claim_complete_cpu_us"] = per_op_us(
        k, lambda: claim_and_complete(store, NOW)
    )

    # timer fired: park k runs on a sleep step that wakes at `wake`, then take them
    wake = NOW + timedelta(seconds=1)
    parked = park(store, f"{tag}s", k, wake, sleep=True)
    out["timer_fired_us"], out["timer_fired_cpu_us"] = per_op_us(
        parked, lambda: claim_and_complete(store, wake)
    )

    # event matched: park k runs each waiting for its own order id, then send the events
    park(store, f"{tag}e", k, ASLEEP_UNTIL + timedelta(days=1), sleep=False)
    sent = iter(range(k))

    def send() -> int:
        i = next(sent)
        data = json.dumps({"order": f"{tag}e{i}"})
        event = NewEvent(f"{tag}ev{i}", "order.paid", data, NOW)
        result = store.events.send(event, [], [], NOW, TTL)
        if len(result.resumed) != 1:
            raise RuntimeError(f"event {i} resumed {len(result.resumed)} waits, not 1")
        return 1

    out["event_matched_us"], out["event_matched_cpu_us"] = per_op_us(k, send)
    # the resumed runs are due now: take them, so they do not weigh on what follows
    while claim_and_complete(store, NOW, limit=500):
        pass

    # notification recorded (in-app: notification, delivery, inbox item, dedup key)
    notes = iter(range(k))

    def record() -> int:
        i = next(notes)
        delivery = NewDelivery(
            f"{tag}d{i}",
            Channel.IN_APP,
            (f"u{i % 1000}",),
            "en",
            DeliveryStatus.DELIVERED,
            title="Hello",
            body="A notification",
            inbox_item_id=f"{tag}i{i}",
        )
        new = NewNotification(
            f"{tag}n{i}", "greeting", f"u{i % 1000}", f"{tag}k{i}", "{}", None, False, (delivery,)
        )
        store.notifications.record(new, NOW, TTL, TTL)
        return 1

    out["notification_recorded_us"], out["notification_recorded_cpu_us"] = per_op_us(k, record)
    return out


def park(store: Store, prefix: str, k: int, due: datetime, *, sleep: bool) -> int:
    """``k`` new runs, claimed and ended WAITING: asleep until ``due``, or waiting (until
    ``due``) for an order.paid event carrying their id."""
    news = [NewRun(f"{prefix}{i}", "job", "default", 0, "{}", NOW) for i in range(k)]
    store.runs.create_many(news, NOW, TTL)
    parked = 0
    while parked < k:
        claimed = store.runs.claim("bench", None, NOW, NOW + timedelta(minutes=5), limit=500)
        if not claimed:
            break
        for run in claimed:
            if sleep:
                step = StepRecord("nap", "sleep", "waiting", 1, started_at=NOW, wake_at=due)
                outcome = Outcome(RunStatus.WAITING, due_at=due, ended_at=NOW)
            else:
                step = StepRecord("paid", "wait_for_event", "waiting", 1, started_at=NOW)
                match = canonical([run.id])
                wait = EventWait("paid", "order.paid", shape(["order"]), match, NOW)
                outcome = Outcome(RunStatus.WAITING, due_at=due, waits=(wait,), ended_at=NOW)
            store.runs.finish_attempt(run.id, run.lease_token, outcome, steps=[step])
            parked += 1
    return parked


def lateness(store: Store, size: int) -> dict[str, float]:
    """The cohort comes due at 100,000 a minute; a claiming loop takes it."""
    cohort = cohort_size(size)
    late: list[float] = []
    origin = time.perf_counter()

    def now() -> datetime:
        return COHORT_AT + timedelta(seconds=time.perf_counter() - origin)

    while len(late) < cohort:
        at = now()
        claimed = store.runs.claim("bench", None, at, at + timedelta(minutes=5), limit=BATCH)
        if not claimed:
            time.sleep(0.001)
            continue
        for run in claimed:
            if not run.id.startswith("b"):
                raise RuntimeError(f"claimed {run.id}, not a cohort run")
            late.append((at - cohort_due(int(run.id[1:]))).total_seconds())
        done = Outcome(RunStatus.COMPLETED, result="null", finished_at=at, ended_at=at)
        store.runs.write_batch([WriteOp(r.id, r.lease_token, outcome=done) for r in claimed])
    late.sort()
    return {
        "cohort": cohort,
        "over_s": cohort / COHORT_RATE,
        "p50_s": late[len(late) // 2],
        "p99_s": late[min(len(late) - 1, int(len(late) * 0.99))],
        "max_s": late[-1],
    }


def run_size(backend: str, tmp: Path, size: int, k: int) -> dict[str, Any]:
    with fresh_store(backend, tmp, size) as store:
        fill_s = fill(store, size)
        log(f"{backend} {size:,}: filled in {fill_s:.1f}s ({size / fill_s:,.0f}/s)")
        if backend == "postgres":  # as autovacuum would have by now; plans are tested both ways
            with store.db._pool.connection() as conn:  # type: ignore[attr-defined]
                conn.execute("ANALYZE")
        rss_before = rss_mb()
        ops = measure(store, "m", k)
        log(f"{backend} {size:,}: " + ", ".join(f"{n} {v:.0f}" for n, v in ops.items()))
        late = lateness(store, size)
        log(f"{backend} {size:,}: lateness p50 {late['p50_s']:.3f}s p99 {late['p99_s']:.3f}s")
        return {
            "backlog": size,
            "fill_runs_per_s": size / fill_s,
            **ops,
            "lateness": late,
            "rss_mb_before": rss_before,
            "rss_mb_after": rss_mb(),
        }


# -- parking a million sleepers, end to end ------------------------------------------------
def measure_park(backend: str, tmp: Path, n: int, timeout: float) -> dict[str, Any]:
    """``trigger_many`` queues ``n`` runs that sleep a day; one worker process parks them."""
    with fresh_url(backend, tmp, "park") as url:
        app = build_app(url)
        _ = app.store  # migrate before the worker starts

        def queue() -> None:
            for lo in range(0, n, PARK_CHUNK):
                app.trigger_many("sleeper-day", [None] * min(PARK_CHUNK, n - lo))

        load_start = [round(x, 2) for x in os.getloadavg()]
        try:
            out = park_sleepers(
                app,
                queue,
                lambda: tidings_worker(url, PARK_CONCURRENCY),
                n,
                PARK_FIRST,
                idle_poll=POLL_INTERVAL,
                timeout=timeout,
            )
        finally:
            app.close()
    out["concurrency"] = PARK_CONCURRENCY
    out["load_average_at_start"] = load_start
    out["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    capped = f" (capped: {out['parked']:,} parked)" if out["capped"] else ""
    log(
        f"{backend} park {n:,}{capped}: queued {out['trigger_runs_per_s']:,.0f}/s, parked "
        f"{out['park_runs_per_s']:,.0f}/s, worker RSS {out['rss_idle_mb']:.0f} / "
        f"{out['rss_after_first_mb']:.0f} / {out['rss_after_all_mb']:.0f} MB, load "
        f"{load_start} → {out['load_average_at_end']}"
    )
    return out


def park_markdown(result: dict[str, Any], befores: list[dict[str, Any]]) -> str:
    env = result["environment"]
    lines = [
        "<!-- scale-park:begin -->",
        "### Scale: sleepers parked by one worker process (bench/scale.py --park)",
        "",
        f"{env['date']}, {env['cores']} cores, Python {env['python']}, SQLite "
        f"{env['sqlite']}. `trigger_many` (chunks of {PARK_CHUNK:,}) queues the runs of a "
        "task that sleeps a day; then one worker process (`app.run_worker`, as `tidings "
        f"worker`, concurrency {PARK_CONCURRENCY}) parks them all. Parked/s is runs / "
        "(worker start → last run WAITING); RSS is the worker's VmRSS idle, after the "
        f"first {PARK_FIRST:,} parked and after all. The machine is shared (2 cores, other "
        "work running): the load averages (1/5/15 min, `uptime`) at the start and end of "
        "each measurement are beside its figures.",
        "",
        "| tree | store | runs | queued/s | parked/s | worker RSS MB: idle / "
        f"{PARK_FIRST:,} / all (peak) | load at start → end |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for side in [*befores, result]:
        label = side.get("label", "before")
        for backend, p in (side.get("park") or {}).items():
            name = "SQLite" if backend == "sqlite" else "PostgreSQL"
            runs = f"{p['runs']:,}"
            if p.get("capped"):
                runs += f" (capped: {p['parked']:,} parked in {p['seconds_to_park_all']:,.0f} s)"
            lines.append(
                f"| {label} | {name} | {runs} | {p['trigger_runs_per_s']:,.0f} | "
                f"{p['park_runs_per_s']:,.0f} | {p['rss_idle_mb']:.0f} / "
                f"{p['rss_after_first_mb']:.0f} / {p['rss_after_all_mb']:.0f} "
                f"({p['rss_peak_mb']:.0f}) | {_load(p['load_average_at_start'])} → "
                f"{_load(p['load_average_at_end'])} |"
            )
    lines.append("")
    for name, g in park_goals(result).items():
        lines.append(
            f"- {name}: {g['value']} (target {g['target']}): "
            + ("met" if g["met"] else "**NOT met**")
        )
    lines += ["", "<!-- scale-park:end -->"]
    return "\n".join(lines)


def _load(values: list[float]) -> str:
    return " / ".join(f"{v:.1f}" for v in values)


def park_goals(result: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for backend, p in (result.get("park") or {}).items():
        rate = p["park_runs_per_s"]
        if p.get("capped"):
            continue  # not all parked: no goal figure
        out[f"{backend}_parked_per_s_at_{p['runs']}"] = {
            "value": round(rate),
            "target": f">= {GOAL_PARK_PER_S:,.0f}",
            "met": rate >= GOAL_PARK_PER_S,
        }
        out[f"{backend}_worker_rss_growth_mb_{PARK_FIRST}_to_{p['runs']}"] = {
            "value": round(p["rss_delta_mb"], 1),
            "target": f"<= {RSS_FLAT_MB:.0f} (flat)",
            "met": p["rss_delta_mb"] <= RSS_FLAT_MB,
        }
    return out


# -- report --------------------------------------------------------------------------------
OPS = (
    ("claim_complete_us", "claim+complete"),
    ("trigger_us", "trigger"),
    ("timer_fired_us", "timer fired"),
    ("event_matched_us", "event matched"),
    ("notification_recorded_us", "notification recorded"),
)


def goals(result: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for backend, rows in result["stores"].items():
        first, last = rows[0], rows[-1]
        unit = cost_unit(backend)
        keys = [key[: -len("_us")] + unit + "_us" for key, _ in OPS]
        worst = max(last[key] / first[key] for key in keys)
        name = f"{backend}_worst_{unit.strip('_') or 'wall'}_ratio"
        out[f"{name}_{last['backlog']}_vs_{first['backlog']}"] = {
            "value": round(worst, 2),
            "target": f"<= {GOAL_RATIO}",
            "met": worst <= GOAL_RATIO,
        }
        p99 = last["lateness"]["p99_s"]
        out[f"{backend}_lateness_p99_s_at_{last['backlog']}"] = {
            "value": round(p99, 3),
            "target": f"< {GOAL_LATENESS_P99_S}",
            "met": p99 < GOAL_LATENESS_P99_S,
        }
    return out


def cost_unit(backend: str) -> str:
    """The suffix of the cost compared across backlogs: CPU time on SQLite (the work is in
    this process), wall time on PostgreSQL (the work is in the server)."""
    return "_cpu" if backend == "sqlite" else ""


def _cell(row: dict[str, Any] | None, key: str, backend: str) -> str:
    if row is None:
        return "—"
    if key == "lateness":
        return f"{row['lateness']['p50_s']:.2f} / {row['lateness']['p99_s']:.2f}"
    if key == "rss":
        return f"{row['rss_mb_after']:.0f}"
    base = key[: -len("_us")]
    if cost_unit(backend):
        return f"{row[base + '_cpu_us']:,.0f} ({row[key]:,.0f})"
    return f"{row[key]:,.0f}"


def markdown(result: dict[str, Any], before: dict[str, Any] | None) -> str:
    env = result["environment"]
    lines = [
        "<!-- scale:begin -->",
        "## Scale: cost per operation against the backlog (bench/scale.py)",
        "",
        f"{env['date']}, {env['cores']} cores (load average {env['load_average_at_start']} at "
        f"start: a shared machine), Python {env['python']}, SQLite {env['sqlite']}. Each "
        "backlog is runs asleep until tomorrow; figures are µs per operation at the store "
        "(claims in batches of 50): on SQLite CPU µs of the process, wall µs in brackets "
        "(the machine is shared: wall time includes waiting for a core), on PostgreSQL wall "
        "µs (the work is in the server); lateness is of a tenth of the backlog coming due at "
        "100,000 a minute, p50 / p99 in seconds; RSS of the claiming process in MB.",
        "",
    ]
    for backend, rows in result["stores"].items():
        old = {r["backlog"]: r for r in (before or {}).get("stores", {}).get(backend, [])}
        head = ["backlog"] + [label for _, label in OPS] + ["lateness p50/p99 s", "RSS MB"]
        lines += [f"**{'SQLite' if backend == 'sqlite' else 'PostgreSQL'}**", ""]
        if old:
            lines.append(f"Each cell: before → after (before: {(before or {}).get('label')}).")
            lines.append("")
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---:|" * len(head))
        for row in rows:
            cells = [f"{row['backlog']:,}"]
            for key in [k for k, _ in OPS] + ["lateness", "rss"]:
                was = old.get(row["backlog"])
                now = _cell(row, key, backend)
                cells.append(f"{_cell(was, key, backend)} → {now}" if old else now)
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    for name, g in result["goals"].items():
        lines.append(
            f"- {name}: {g['value']} (target {g['target']}): "
            + ("met" if g["met"] else "**NOT met**")
        )
    lines += ["", "<!-- scale:end -->"]
    return "\n".join(lines)


def report(result: dict[str, Any], befores: list[dict[str, Any]]) -> None:
    """Write the sections of RESULTS.md that ``result`` has figures for."""
    if result.get("stores"):
        write_section("scale", markdown(result, befores[0] if befores else None))
        log("wrote the scale section of bench/RESULTS.md")
    if result.get("park"):
        write_section("scale-park", park_markdown(result, befores))
        log("wrote the scale-park section of bench/RESULTS.md")


def main() -> None:
    parser = argparse.ArgumentParser(description="tidings cost per operation against backlog")
    parser.add_argument("--quick", action="store_true", help="backlogs of 1k and 10k only")
    parser.add_argument("--max", type=int, default=1_000_000, help="largest backlog to measure")
    parser.add_argument("--ops", type=int, default=1_000, help="operations timed per hot path")
    parser.add_argument("--stores", default="sqlite,postgres", help="comma-separated")
    parser.add_argument(
        "--park", type=int, default=0, metavar="N", help="also: a worker parks N sleepers"
    )
    parser.add_argument(
        "--park-timeout", type=float, default=3600, help="seconds allowed to park them"
    )
    parser.add_argument("--no-sweep", action="store_true", help="skip the per-operation backlogs")
    parser.add_argument(
        "--before", type=Path, action="append", default=[], help="JSON of an earlier run"
    )
    parser.add_argument(
        "--from-json", type=Path, help="measure nothing: write the tables of this JSON output"
    )
    parser.add_argument("--label", default="this tree", help="what this run measured")
    parser.add_argument("--no-write", action="store_true", help="do not write RESULTS.md")
    args = parser.parse_args()
    befores = [json.loads(path.read_text()) for path in args.before]
    if args.from_json:
        report(json.loads(args.from_json.read_text()), befores)
        return
    stores = [b.strip() for b in args.stores.split(",") if b.strip()]
    if unknown := [b for b in stores if b not in ("sqlite", "postgres")]:
        parser.error(f"unknown store {', '.join(unknown)} (choose from sqlite, postgres)")
    if args.park < 0 or (args.park and args.park < PARK_FIRST):
        parser.error(f"--park must be at least {PARK_FIRST:,} (or 0: off)")
    if args.no_sweep and not args.park:
        parser.error("--no-sweep leaves nothing to measure without --park N")
    sizes = [s for s in (QUICK_SIZES if args.quick else SIZES) if s <= args.max]
    k = 200 if args.quick else args.ops
    result: dict[str, Any] = {
        "label": args.label,
        "environment": {
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "tidings_from": str(Path(tidings.__file__).resolve().parent),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
            "quick": args.quick,
            "ops_per_path": k,
        },
        "stores": {},
    }
    with tempfile.TemporaryDirectory(prefix="tidings-scale-") as tmp:
        if not args.no_sweep:
            for backend in stores:
                result["stores"][backend] = [run_size(backend, Path(tmp), s, k) for s in sizes]
        if args.park:
            result["park"] = {
                backend: measure_park(backend, Path(tmp), args.park, args.park_timeout)
                for backend in stores
            }
    result["environment"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    if not args.no_sweep:
        result["goals"] = goals(result)
    if args.park:
        result["park_goals"] = park_goals(result)
    if not args.no_write:
        report(result, befores)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
