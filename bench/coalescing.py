"""Debounce and batch under load, part of ``bench/events.py`` (issue 17).

Triggers arrive at RATE a second over KEYS keys (each trigger's key drawn uniformly),
sent with ``trigger_many`` every TICK seconds from this process while one worker process
runs the runs. Measured: how many runs the triggers became, whether every trigger landed
in exactly one run (the runs' ``coalesced`` counts add up to the triggers sent), and the
lateness of each run's start: its ``started_at`` (the worker's claim) minus its due time
(``run_at``: ``period`` after the last trigger of a debounced burst or ``max_wait`` after
its first; for a batch the instant it filled, or ``timeout`` after its first trigger).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.common import log, section
from tidings import Batch, Context, Debounce, RunStatus, Tidings

BEGIN, END = section("events-coalescing")
RATE = 2_000  # triggers a second
KEYS = 1_000
TICK = 0.05  # seconds between trigger_many calls (RATE * TICK triggers each)
DEBOUNCE = Debounce(timedelta(seconds=1), key="k", max_wait=timedelta(seconds=3), keep="last")
BATCH = Batch(max_size=5, timeout=timedelta(seconds=1), key="k")
TASKS = {"debounce": "bench-debounce", "batch": "bench-batch"}


def add_tasks(app: Tidings) -> None:
    """The two tasks measured here (on the client's app and the worker's alike)."""

    @app.task(id=TASKS["debounce"], debounce=DEBOUNCE)
    async def debounced(ctx: Context, payload: dict[str, Any]) -> None:
        return None

    @app.task(id=TASKS["batch"], batch=BATCH)
    async def batched(ctx: Context, payload: list[dict[str, Any]]) -> None:
        return None


Session = Callable[[str], AbstractContextManager[tuple[Tidings, Any]]]
Store = Callable[[str, str, Path], AbstractContextManager[str]]


def measure(
    kind: str,
    tmp: Path,
    seconds: float,
    fresh_store: Store,
    session: Session,
    stats: Callable[[list[float]], dict[str, float]],
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for option, task in TASKS.items():
        with fresh_store(kind, f"coalesce_{option}", tmp) as url, session(url) as (app, _):
            sent, elapsed, behind = _send(app, task, seconds)
            runs = _finished_runs(app, task, timeout=120 + seconds)
        late = [
            (r.started_at - r.run_at).total_seconds() * 1000
            for r in runs
            if r.started_at is not None and r.run_at is not None
        ]
        landed = sum(r.coalesced for r in runs)
        starts = sorted(r.started_at for r in runs if r.started_at is not None)
        span = (starts[-1] - starts[0]).total_seconds() if len(starts) > 1 else 0.0
        out[option] = {
            "triggers": sent,
            "seconds": elapsed,
            "triggers_per_s": sent / elapsed,
            "ticks_behind_schedule": behind,
            "runs": len(runs),
            "triggers_per_run": sent / len(runs) if runs else 0.0,
            "every_trigger_in_one_run": landed == sent,
            "runs_due_per_s": len(runs) / elapsed,
            "worker_starts_per_s": len(starts) / span if span else 0.0,
            "start_lateness": stats(late),
        }
        s = out[option]["start_lateness"]
        log(
            f"  {option}: {sent:,} triggers at {sent / elapsed:,.0f}/s over {KEYS:,} keys → "
            f"{len(runs):,} runs; start lateness p50 {s['p50_ms']:.1f} ms, "
            f"p99 {s['p99_ms']:.1f} ms"
        )
    return out


def _send(app: Tidings, task: str, seconds: float) -> tuple[int, float, int]:
    """Trigger at RATE for ``seconds``: (triggers sent, seconds taken, late ticks)."""
    rng = random.Random(17)
    per_tick = int(RATE * TICK)
    ticks = int(seconds / TICK)
    sent = behind = 0
    t0 = time.perf_counter()
    for i in range(ticks):
        wait = t0 + i * TICK - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        elif wait < -TICK:
            behind += 1
        app.trigger_many(task, [{"k": f"k{rng.randrange(KEYS)}"} for _ in range(per_tick)])
        sent += per_tick
    return sent, time.perf_counter() - t0, behind


def _finished_runs(app: Tidings, task: str, timeout: float) -> list[Any]:
    deadline = time.monotonic() + timeout
    while True:
        counts = app.store.runs.count()
        active = counts[RunStatus.QUEUED] + counts[RunStatus.RUNNING] + counts[RunStatus.WAITING]
        if active == 0:
            return list(_all_runs(app, task))
        if time.monotonic() > deadline:
            raise RuntimeError(f"{active} runs of {task} still active after {timeout:.0f} s")
        time.sleep(0.25)


def _all_runs(app: Tidings, task: str) -> Iterator[Any]:
    yield from app.list_runs(task, status=[RunStatus.COMPLETED], limit=10_000_000)


def _ms(s: dict[str, float]) -> str:
    return f"{s['p50_ms']:.0f} / {s['p99_ms']:.0f} ms"


def markdown(result: dict[str, Any], env: dict[str, Any], stores: tuple[str, ...]) -> str:
    def cells(cell: Callable[[dict[str, Any]], str]) -> str:
        values = []
        for kind in stores:
            r = result.get(kind)
            values.append(cell(r["coalescing"]) if isinstance(r, dict) else "not measured")
        return " | ".join(values)

    lines = []
    for option, what in (
        ("debounce", "Debounce(1 s, max_wait=3 s, keep='last')"),
        ("batch", "Batch(max_size=5, timeout=1 s)"),
    ):

        def sent(r: dict[str, Any], o: str = option) -> str:
            x = r[o]
            return (
                f"{x['triggers']:,} in {x['seconds']:.1f} s ({x['triggers_per_s']:,.0f}/s) → "
                f"{x['runs']:,} runs ({x['triggers_per_run']:.1f} triggers a run); every "
                f"trigger in one run: {'yes' if x['every_trigger_in_one_run'] else '**no**'}"
            )

        def late(r: dict[str, Any], o: str = option) -> str:
            s = r[o]["start_lateness"]
            return f"{_ms(s)} (max {s['max_ms']:.0f} ms)"

        def pace(r: dict[str, Any], o: str = option) -> str:
            x = r[o]
            return (
                f"{x['runs_due_per_s']:,.0f} runs due a second; the worker started "
                f"{x['worker_starts_per_s']:,.0f} a second"
            )

        lines.append(f"| `{what}`: triggers → runs | {cells(sent)} |")
        lines.append(f"| … start lateness p50 / p99 (`started_at - run_at`) | {cells(late)} |")
        lines.append(f"| … runs made due vs. runs the one worker started | {cells(pace)} |")
    table = "\n".join(lines)
    return f"""{BEGIN}
## Debounce and batch under load (`bench/events.py`)

Generated by `{env["command"]}` on {env["date"]}: {env["cores"]} cores, Python
{env["python"]}, SQLite {env["sqlite"]}, PostgreSQL {env.get("postgresql", "-")}, tidings
{env["tidings"]}; load average at start {env["load_average_at_start"]}.

| Measurement | {" | ".join("SQLite" if s == "sqlite" else "PostgreSQL" for s in stores)} |
|---|{"---|" * len(stores)}
{table}

**Method.** {RATE:,} triggers a second over {KEYS:,} keys (uniform), sent by this process
with `trigger_many` every {TICK * 1000:.0f} ms ({int(RATE * TICK)} triggers a call, one
transaction each), to a fresh store with one worker process (the library defaults) running
the runs, which do nothing. Each trigger takes its key's gate row lock and joins the key's
open run or opens one. Lateness is each run's `started_at` (the worker's claim time) minus
its final `run_at` (its due time as the triggers left it); "every trigger in one run"
checks that the runs' `coalesced` counts add up to the triggers sent.

**What bounds these figures.** Lateness measures the one worker process, not when runs
become due: a run is due exactly at its `run_at`, and the worker claims it then if it has
a free slot. When the triggers make runs due faster than one worker starts them (the
"runs due vs. started" row), the backlog grows through the measurement and lateness
with it; more workers (or processes) take more. On SQLite the trigger stream's
transactions also hold the single write lock the worker needs for its claims and
results. Triggers of one key take turns on the key's row; the sending rate is what one
Python process reached with `trigger_many` here.
{END}
"""
