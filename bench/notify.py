"""Notification fan-out benchmark on SQLite and PostgreSQL.

10,000 recipients each get one notification of a type sent over ``in_app`` and
``email`` (the outbox provider): routing reads the recipient, both channels are rendered
from Jinja2 templates, the delivery log, the inbox row and its change-feed entry are
recorded, and the email is sent by its own durable run (``tidings.deliver``), which
captures it in the outbox. Each notification is one run of a task calling
``ctx.notify``, all queued before ONE worker process (``app.run_worker``, as ``tidings
worker`` runs it) is started; the clock runs from its start until every email is
captured. The worker's resident memory is sampled as it goes (it must stay flat).

Prints one JSON object to stdout (progress on stderr) and writes the block between
``<!-- notify:begin -->`` and ``<!-- notify:end -->`` in bench/RESULTS.md.

    .venv/bin/python bench/notify.py                  # 10,000 recipients, both stores
    .venv/bin/python bench/notify.py --quick          # 1,000 recipients
    .venv/bin/python bench/notify.py --store sqlite
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

if __package__ in (None, ""):  # run as a script: the repository root is not on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import tidings
from bench.common import RESULTS, WorkerProcess, log, section, write_section
from tidings import Context, RunStatus, Tidings

BEGIN, END = section("notify")
PG_SERVER = os.environ.get(
    "TIDINGS_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
CONCURRENCY = 10
RSS_FLAT_MB = 10.0
TEMPLATES = {
    "in_app.title": "New results for {{ name }}",
    "in_app.body": "{{ name }}, your {{ test }} results from {{ clinic }} are ready.",
    "email.subject": "Your {{ test }} results are ready",
    "email.html": (
        "<p>Dear {{ name }},</p><p>Your <b>{{ test }}</b> results from {{ clinic }} are "
        'ready. <a href="https://example.com/r/{{ id }}">Open them</a>.</p>'
    ),
}


def write_templates(root: Path) -> Path:
    folder = root / "results-ready" / "en"
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in TEMPLATES.items():
        (folder / name).write_text(text, encoding="utf-8")
    return root


def build_app(url: str, templates: Path) -> Tidings:
    app = Tidings(url, templates=templates)
    app.notification_type("results-ready", channels=("in_app", "email"))

    @app.task(id="announce")
    async def announce(ctx: Context, payload: dict[str, Any]) -> None:
        await ctx.notify(
            "results-ready",
            to=payload["to"],
            data={"name": payload["name"], "test": "blood panel", "clinic": "MediLink",
                  "id": payload["to"]},
        )  # fmt: skip

    return app


def worker_main(url: str, templates: str) -> None:
    app = build_app(url, Path(templates))
    _ = app.store
    print("ready", flush=True)
    app.run_worker(concurrency=CONCURRENCY, poll_interval=1.0)


def notify_worker(url: str, templates: Path) -> WorkerProcess:
    """A worker process (``--worker``) running this file's tasks."""
    return WorkerProcess(
        [sys.executable, str(Path(__file__).resolve()), "--worker", url, str(templates)]
    )


def measure(url: str, templates: Path, recipients: int) -> dict[str, Any]:
    app = build_app(url, templates)
    started = time.perf_counter()
    for i in range(recipients):
        app.recipients.upsert(f"user-{i}", email=f"user-{i}@example.com", locale="en")
    for i in range(recipients):
        app.trigger("announce", {"to": f"user-{i}", "name": f"Patient {i}"})
    log(f"{recipients} recipients and runs ready in {time.perf_counter() - started:.1f}s")
    worker = notify_worker(url, templates)
    t0 = time.perf_counter()
    samples: list[tuple[int, float]] = []
    try:
        while True:
            counts = app.store.runs.count()
            done = counts[RunStatus.COMPLETED]
            samples.append((done, worker.rss_mb()))
            if counts[RunStatus.FAILED]:
                raise RuntimeError(f"{counts[RunStatus.FAILED]} runs failed")
            if done == 2 * recipients:
                break
            time.sleep(0.25)
        elapsed = time.perf_counter() - t0
    finally:
        worker.stop()
    by_status = app.deliveries.counts()
    assert by_status == {("in_app", "delivered"): recipients, ("email", "sent"): recipients}, (
        by_status
    )
    assert len(app.outbox.list(limit=1)) == 1
    app.close()
    tenth = next(rss for done, rss in samples if done >= 2 * recipients // 10)
    end = samples[-1][1]
    result = {
        "recipients": recipients,
        "seconds": round(elapsed, 2),
        "notifications_per_s": round(recipients / elapsed, 1),
        "deliveries_per_s": round(2 * recipients / elapsed, 1),
        "rss_at_10pct_mb": round(tenth, 1),
        "rss_at_end_mb": round(end, 1),
        "rss_peak_mb": round(max(r for _, r in samples), 1),
        "rss_growth_mb": round(end - tenth, 1),
        "flat": end - tenth <= RSS_FLAT_MB,
    }
    log(json.dumps(result))
    return result


def run_store(store: str, recipients: int, workdir: Path) -> dict[str, Any]:
    templates = write_templates(workdir / "templates")
    if store == "sqlite":
        return measure(f"sqlite:///{workdir / 'notify.db'}", templates, recipients)
    schema = f"tidings_bench_notify_{uuid.uuid4().hex[:12]}"
    url = f"{PG_SERVER}{'&' if '?' in PG_SERVER else '?'}schema={schema}"
    try:
        return measure(url, templates, recipients)
    finally:
        with psycopg.connect(PG_SERVER, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def environment() -> dict[str, str]:
    try:
        with psycopg.connect(PG_SERVER, connect_timeout=5) as conn:
            row = conn.execute("SELECT version()").fetchone()
            pg = str(row[0]).split(" on ")[0] if row else "?"
    except psycopg.Error:
        pg = "unreachable"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=Path(__file__).parent).stdout.strip()  # fmt: skip
    return {
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgres": pg,
        "tidings": f"{tidings.__version__} ({commit})",
        "load": " ".join(f"{x:.1f}" for x in os.getloadavg()),
    }


def markdown(result: dict[str, Any]) -> str:
    env = result["environment"]
    lines = [
        BEGIN,
        "## Notification fan-out (`bench/notify.py`)",
        "",
        f"Generated by `.venv/bin/python bench/notify.py` on {env['when']}: {env['cores']} cores,"
        f" Python {env['python']}, SQLite {env['sqlite']}, {env['postgres']}, tidings "
        f"{env['tidings']}; load average at start {env['load']}.",
        "",
        "Each recipient gets one notification over `in_app` + `email` (outbox): route, render",
        "both channels (Jinja2), record two deliveries, the inbox row and its change, then the",
        "email's own `tidings.deliver` run captures it in the outbox. All runs are queued",
        "first; the clock runs from the start of ONE worker process (concurrency "
        f"{CONCURRENCY}) until every email is captured.",
        "",
        "| store | recipients | seconds | notifications/s | deliveries/s "
        "| worker RSS at 10% / end (peak) | flat |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for store, r in result["stores"].items():
        lines.append(
            f"| {store} | {r['recipients']:,} | {r['seconds']} | {r['notifications_per_s']} | "
            f"{r['deliveries_per_s']} | {r['rss_at_10pct_mb']} / {r['rss_at_end_mb']} MB "
            f"({r['rss_peak_mb']}) | {'yes' if r['flat'] else 'NO'} "
            f"(Δ {r['rss_growth_mb']:+.1f} MB) |"
        )
    lines += [
        "",
        "- Per notification the two runs cost about 5.4 transactions and 32 statements",
        "  (counted on SQLite): routing reads the recipient, tokens, preferences and",
        "  suppressions (4), recording writes the notification, 2 deliveries, the send run",
        "  with its idempotency key, the inbox row and its change (about 10), the send run",
        "  reads its delivery, captures it and records the outcome, and each run saves its",
        "  step and ends. On PostgreSQL every statement is a round trip, which is why it is",
        "  the slower store here; fewer statements (one routing query, no re-read of the",
        "  deliveries just written, the delivery's content in the send run's payload) are",
        "  the next gains.",
    ]
    cores = int(env["cores"]) if env["cores"].isdigit() else 1
    if float(env["load"].split()[0]) > cores:
        lines.append(
            f"- The machine was shared (load average {env['load'].split()[0]} on {cores} "
            "cores): absolute rates are low and noisy; memory is the stable result."
        )
    lines += ["", END, ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=2, metavar=("URL", "TEMPLATES"), help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="1,000 recipients")
    parser.add_argument("--recipients", type=int, default=None)
    parser.add_argument("--store", action="append", choices=("sqlite", "postgres"))
    parser.add_argument("--no-write", action="store_true", help="do not write RESULTS.md")
    args = parser.parse_args()
    if args.worker:
        worker_main(*args.worker)
        return
    recipients = args.recipients or (1000 if args.quick else 10_000)
    result: dict[str, Any] = {"environment": environment(), "stores": {}}
    for store in args.store or ["sqlite", "postgres"]:
        log(f"{store}: {recipients} recipients")
        with tempfile.TemporaryDirectory(prefix="tidings-bench-notify-") as tmp:
            result["stores"][store] = run_store(store, recipients, Path(tmp))
    print(json.dumps(result, indent=2))
    if not args.no_write:
        write_section("notify", markdown(result))
        log(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
