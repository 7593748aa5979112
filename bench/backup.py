"""Backup and restore on SQLite and PostgreSQL, and what a backup costs running workers.

1. Backup and restore time and size for a database of N completed runs of three steps
   (N = 20,000; 2,000 with --quick), each ``take_backup`` as ``tidings backup`` runs it,
   verification included (PostgreSQL: restored into a scratch database and counted).
2. Worker throughput while backups run: one worker process (``tidings worker``, the
   library defaults, concurrency 10) drains a backlog of M three-step runs (M = 3,000;
   1,000 with --quick), once undisturbed and once while this process takes backups back
   to back; runs/s = M / (last finished - first started).

Prints one JSON object to stdout and writes its section of bench/RESULTS.md (between the
backup markers).

    .venv/bin/python bench/backup.py [--quick] [--store sqlite|postgres] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

if __package__ in (None, ""):  # run as a script: the repository root is not on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import RESULTS, log, section, write_section
from tidings import Context, RunStatus, Tidings
from tidings.ops.backup import restore_backup, take_backup

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = section("backup")
PG = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def make_app(database_url: str | None = None) -> Tidings:
    """The benchmark's app: one task of three steps."""
    bench = Tidings(database_url, environment="bench")

    @bench.task
    async def work(ctx: Context, payload: dict[str, Any]) -> int:
        a = await ctx.step("a", lambda: payload["n"])
        b = await ctx.step("b", lambda: a + 1)
        return int(await ctx.step("c", lambda: b * 2))

    return bench


app = make_app()


@contextmanager
def database(kind: str, folder: Path) -> Iterator[str]:
    """A fresh database URL (a SQLite file, or a PostgreSQL schema dropped afterwards)."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / f'{uuid.uuid4().hex[:8]}.db'}"
        return
    schema = f"bench_backup_{uuid.uuid4().hex[:12]}"
    try:
        yield f"{PG}{'&' if '?' in PG else '?'}schema={schema}"
    finally:
        with psycopg.connect(PG, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            )


@contextmanager
def worker(url: str, folder: Path) -> Iterator[None]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
    env["PYTHONPATH"] = str(ROOT)
    argv = [sys.executable, "-m", "tidings.cli", "worker", "--app", "bench.backup:app"]
    with (folder / "worker.log").open("a") as out:
        proc = subprocess.Popen(
            [*argv, "--database-url", url], cwd=ROOT, env=env, stdout=out, stderr=out
        )
        try:
            yield
        finally:
            proc.terminate()
            proc.wait(60)


def trigger(client: Tidings, n: int) -> list[str]:
    return [client.trigger("work", {"n": i}).id for i in range(n)]


def drain(client: Tidings, ids: list[str], timeout: float = 1800) -> float:
    """Runs/s of the drain: len(ids) / (last finished - first started)."""
    deadline = time.monotonic() + timeout
    while client.store.runs.count()[RunStatus.COMPLETED] < len(ids):
        if time.monotonic() > deadline:
            raise TimeoutError("the worker did not drain the backlog")
        time.sleep(0.2)
    runs = [client.store.runs.get(i, steps=False) for i in ids]
    started = min(r.started_at for r in runs if r and r.started_at)
    finished = max(r.finished_at for r in runs if r and r.finished_at)
    return len(ids) / (finished - started).total_seconds()


def size_and_restore(kind: str, n: int, folder: Path) -> dict[str, Any]:
    with database(kind, folder) as url:
        client = make_app(url)
        ids = trigger(client, n)
        with worker(url, folder):
            drain(client, ids)
        started = time.perf_counter()
        result = take_backup(url, "bench", folder / "backups")
        backup_s = time.perf_counter() - started
        with database(kind, folder) as target:
            started = time.perf_counter()
            restore_backup(result.path, target)
            restore_s = time.perf_counter() - started
        client.close()
    return {
        "runs": n,
        "rows": sum(result.manifest.tables.values()),
        "backup_s": round(backup_s, 2),
        "restore_s": round(restore_s, 2),
        "file_mb": round(result.path.stat().st_size / 1e6, 2),
        "verified": result.manifest.verified,
    }


def _backups(url: str, folder: Path, stop: threading.Event, taken: list[int]) -> None:
    while not stop.is_set():
        take_backup(url, "bench", folder / "impact", keep=1)
        taken[0] += 1


def _drain_rate(m: int, folder: Path, kind: str, backups: bool) -> tuple[float, int]:
    """One round: a fresh database, a backlog of ``m`` runs, one worker draining it."""
    with database(kind, folder) as url:
        client = make_app(url)
        ids = trigger(client, m)
        stop, taken = threading.Event(), [0]
        thread = threading.Thread(target=_backups, args=(url, folder, stop, taken))
        with worker(url, folder):
            if backups:
                thread.start()
            rate = drain(client, ids)
            stop.set()
            if backups:
                thread.join()
        client.close()
    return rate, taken[0]


def impact(kind: str, m: int, folder: Path, rounds: int = 3) -> dict[str, Any]:
    """Median runs/s of rounds alternating without and with backups (load drifts)."""
    alone, during, taken = [], [], 0
    for _ in range(rounds):
        alone.append(_drain_rate(m, folder, kind, backups=False)[0])
        rate, n = _drain_rate(m, folder, kind, backups=True)
        during.append(rate)
        taken += n
    figures: dict[str, Any] = {
        "alone": round(statistics.median(alone)),
        "with_backups": round(statistics.median(during)),
        "backups_taken": taken,
        "rounds": rounds,
    }
    figures["ratio"] = round(figures["with_backups"] / figures["alone"], 2)
    return figures


def render(results: dict[str, Any], quick: bool) -> str:
    rows = []
    for kind, r in results["stores"].items():
        s, i = r["size"], r["impact"]
        rows.append(
            f"| {kind} | {s['runs']:,} runs ({s['rows']:,} rows) | {s['backup_s']} s "
            f"({s['verified']}) | {s['file_mb']} MB | {s['restore_s']} s | "
            f"{i['alone']:,} / {i['with_backups']:,} runs/s ({i['ratio']}x, "
            f"{i['backups_taken']} backups in {i['rounds']} rounds) |"
        )
    return "\n".join(
        [
            BEGIN,
            "## Backups (`bench/backup.py`)",
            "",
            f"Generated by `.venv/bin/python bench/backup.py{' --quick' if quick else ''}` on "
            f"{results['at']}: {os.cpu_count()} cores, load average at start "
            f"{results['load']}.",
            "",
            "| store | database | backup, verified | file | restore | worker alone / "
            "during back-to-back backups |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
            "**Method.** The database holds N completed runs of three steps, run by one "
            "`tidings worker` process. Backup is `take_backup` as `tidings backup` runs it, "
            "verification included (SQLite: `PRAGMA integrity_check` and row counts; "
            "PostgreSQL: `pg_dump` on an exported snapshot, then `pg_restore` into a scratch "
            "database and row counts compared). Restore is `restore_backup` into a fresh "
            "environment (one transaction). The worker figures drain a backlog of M "
            "three-step runs, undisturbed and while this process takes backups back to back "
            "(each a consistent snapshot of a database being written), in alternating "
            "rounds on fresh databases; the figures are the medians.",
            END,
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--store", choices=("sqlite", "postgres"), action="append")
    parser.add_argument("--no-write", action="store_true", help="do not write RESULTS.md")
    args = parser.parse_args()
    n, m = (2_000, 1_000) if args.quick else (20_000, 3_000)
    results: dict[str, Any] = {
        "at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load": [round(x, 2) for x in os.getloadavg()],
        "stores": {},
    }
    with tempfile.TemporaryDirectory(prefix="tidings-bench-backup-") as tmp:
        folder = Path(tmp)
        for kind in args.store or ["sqlite", "postgres"]:
            log(f"{kind}: {n} runs, backup and restore")
            size = size_and_restore(kind, n, folder)
            log(f"{kind}: {size}; worker impact with {m} runs")
            results["stores"][kind] = {"size": size, "impact": impact(kind, m, folder)}
            log(f"{kind}: {results['stores'][kind]['impact']}")
    print(json.dumps(results, indent=2))
    if not args.no_write:
        write_section("backup", render(results, args.quick))
        log(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
