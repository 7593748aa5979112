"""Notification benchmarks on SQLite and PostgreSQL: a broadcast, and the single path.

**Broadcast** (``broadcast``): 100,000 recipients subscribed to one topic get one
notification of a type sent over ``in_app`` and ``email`` (the outbox provider) through
ONE ``app.notify(..., to=Topic(...))``: one ``tidings.broadcast`` run routes the audience
500 recipients per transaction and hands the emails to ``tidings.deliver_batch`` runs of
100, which capture them in the outbox in one statement each. The clock runs from the
start of ONE worker process until every email is captured; the worker's resident memory
is sampled (it must stay flat). PostgreSQL's own rate for one-row INSERT+COMMIT
transactions with 4 clients (``pgbench``) is measured in the same run, as the yardstick.

**Single path** (``stores``, as before this benchmark had broadcasts):
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

    .venv/bin/python bench/notify.py                  # 100,000 broadcast, 10,000 single
    .venv/bin/python bench/notify.py --quick          # 10,000 broadcast, 1,000 single
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
from tidings import Context, RunStatus, Tidings, Topic

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


def _bulk_recipients(url: str, n: int) -> list[str]:
    """``n`` recipients written straight into the table (setup, not measured)."""
    ids = [f"user-{i:06d}" for i in range(n)]
    rows = [(rid, f"{rid}@example.com", "en") for rid in ids]
    if url.startswith("sqlite"):
        now = int(time.time() * 1_000_000)
        with sqlite3.connect(url.removeprefix("sqlite:///")) as lite:
            lite.executemany(
                "INSERT INTO recipients (id, email, locale, timezone, data, created_at, "
                "updated_at) VALUES (?, ?, ?, 'UTC', '{}', ?, ?)",
                [(*r, now, now) for r in rows],
            )
        return ids
    base, schema = url.split("?schema=")
    with psycopg.connect(base, autocommit=True) as pg, pg.cursor() as cur:
        cur.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        with cur.copy("COPY recipients (id, email, locale, timezone, data, created_at, "
                      "updated_at) FROM STDIN") as copy:  # fmt: skip
            for r in rows:
                copy.write_row((*r, "UTC", "{}", datetime.now(UTC), datetime.now(UTC)))
    return ids


def measure_broadcast(url: str, templates: Path, recipients: int) -> dict[str, Any]:
    app = build_app(url, templates)
    app.migrate()
    started = time.perf_counter()
    ids = _bulk_recipients(url, recipients)
    for i in range(0, len(ids), 10_000):
        app.topics.subscribe("patients", ids[i : i + 10_000])
    handle = app.notify(
        "results-ready",
        to=Topic("patients"),
        data={"name": "Patient", "test": "blood panel", "clinic": "MediLink", "id": "r1"},
    )
    log(f"{recipients} recipients subscribed, broadcast queued in "
        f"{time.perf_counter() - started:.1f}s")  # fmt: skip
    worker = notify_worker(url, templates)
    t0 = time.perf_counter()
    samples: list[tuple[int, float]] = []
    routed_at: float | None = None
    try:
        while True:
            progress = app.broadcasts.get(handle.id)
            sent = progress.counts.get("email", {}).get("sent", 0)
            samples.append((sent, worker.rss_mb()))
            if routed_at is None and progress.finished:
                routed_at = time.perf_counter() - t0
            if app.store.runs.count()[RunStatus.FAILED]:
                raise RuntimeError("runs failed")
            if sent == recipients:
                break
            time.sleep(0.5)
        elapsed = time.perf_counter() - t0
    finally:
        worker.stop()
    final = app.broadcasts.get(handle.id)
    assert final.counts == {"in_app": {"delivered": recipients}, "email": {"sent": recipients}}, (
        final.counts
    )
    app.close()
    tenth = next(rss for done, rss in samples if done >= recipients // 10)
    end = samples[-1][1]
    result = {
        "recipients": recipients,
        "seconds": round(elapsed, 2),
        "routed_seconds": round(routed_at or elapsed, 2),
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


def pgbench_rate(seconds: int = 10) -> dict[str, Any]:
    """pgbench: one-row INSERT + COMMIT transactions per second, 4 clients, on a scratch
    table of this server."""
    schema = f"tidings_bench_pgbench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_SERVER, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        conn.execute(
            sql.SQL("CREATE TABLE {}.t (id bigserial PRIMARY KEY, v int)").format(
                sql.Identifier(schema)
            )
        )
    try:
        with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
            script.write(f"INSERT INTO {schema}.t (v) VALUES (1);\n")
        done = subprocess.run(
            ["pgbench", "-n", "-c", "4", "-j", "2", "-T", str(seconds), "-f", script.name,
             PG_SERVER],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        os.unlink(script.name)
        tps = next(
            float(line.split("=")[1].split()[0])
            for line in done.stdout.splitlines()
            if line.startswith("tps")
        )
    finally:
        with psycopg.connect(PG_SERVER, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    log(f"pgbench one-row INSERT+COMMIT, 4 clients: {tps:,.0f} tps")
    return {"clients": 4, "seconds": seconds, "tps": round(tps, 1)}


def run_broadcast(store: str, recipients: int, workdir: Path) -> dict[str, Any]:
    templates = write_templates(workdir / "templates")
    if store == "sqlite":
        return measure_broadcast(f"sqlite:///{workdir / 'broadcast.db'}", templates, recipients)
    schema = f"tidings_bench_bcast_{uuid.uuid4().hex[:12]}"
    url = f"{PG_SERVER}{'&' if '?' in PG_SERVER else '?'}schema={schema}"
    try:
        return measure_broadcast(url, templates, recipients)
    finally:
        with psycopg.connect(PG_SERVER, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


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


def _row(store: str, r: dict[str, Any]) -> str:
    return (
        f"| {store} | {r['recipients']:,} | {r['seconds']} | {r['notifications_per_s']} | "
        f"{r['deliveries_per_s']} | {r['rss_at_10pct_mb']} / {r['rss_at_end_mb']} MB "
        f"({r['rss_peak_mb']}) | {'yes' if r['flat'] else 'NO'} (Δ {r['rss_growth_mb']:+.1f} MB) |"
    )


HEADER = [
    "| store | recipients | seconds | notifications/s | deliveries/s "
    "| worker RSS at 10% / end (peak) | flat |",
    "|---|---:|---:|---:|---:|---|---|",
]


def markdown(result: dict[str, Any]) -> str:
    env = result["environment"]
    lines = [
        BEGIN,
        "## Notifications (`bench/notify.py`)",
        "",
        f"Generated by `.venv/bin/python bench/notify.py` on {env['when']}: {env['cores']} cores,"
        f" Python {env['python']}, SQLite {env['sqlite']}, {env['postgres']}, tidings "
        f"{env['tidings']}; load average at start {env['load']}.",
    ]
    if result.get("broadcast"):
        lines += [
            "",
            "### Broadcast",
            "",
            "Every recipient subscribed to one topic gets one notification over `in_app` +",
            "`email` (outbox) through ONE `app.notify(..., to=Topic(...))`: the broadcast run",
            "routes 500 recipients per transaction (4 reads, multi-row writes), in-app is",
            "delivered in that transaction, and emails go to `tidings.deliver_batch` runs of",
            "100 that capture them in one statement each. The clock runs from the start of ONE",
            f"worker process (concurrency {CONCURRENCY}) until every email is captured.",
            "",
            *HEADER,
        ]
        lines += [_row(store, r) for store, r in result["broadcast"].items()]
        if "pgbench" in result:
            tps = result["pgbench"]["tps"]
            lines += [
                "",
                f"- pgbench on the same server, same run: {tps:,.0f} one-row INSERT+COMMIT "
                "transactions/s with 4 clients; the goal for the PostgreSQL broadcast is 20% "
                f"of it ({tps * 0.2:,.0f}/s).",
            ]
    lines += [
        "",
        "### Single notifications",
        "",
        "Each recipient gets one notification over `in_app` + `email` (outbox): route, render",
        "both channels (Jinja2), record two deliveries, the inbox row and its change, then the",
        "email's own `tidings.deliver` run captures it in the outbox. Each notification is one",
        "run of a task calling `ctx.notify`; all runs are queued first; the clock runs from",
        f"the start of ONE worker process (concurrency {CONCURRENCY}) until every email is",
        "captured.",
        "",
        *HEADER,
    ]
    lines += [_row(store, r) for store, r in result["stores"].items()]
    cores = int(env["cores"]) if env["cores"].isdigit() else 1
    if float(env["load"].split()[0]) > cores:
        lines.append(
            f"\n- The machine was shared (load average {env['load'].split()[0]} on {cores} "
            "cores): absolute rates are low and noisy; memory is the stable result."
        )
    lines += ["", END, ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=2, metavar=("URL", "TEMPLATES"), help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="10,000 / 1,000 recipients")
    parser.add_argument("--recipients", type=int, default=None, help="single path")
    parser.add_argument("--broadcast", type=int, default=None, help="broadcast recipients")
    parser.add_argument("--only", choices=("broadcast", "single"), default=None)
    parser.add_argument("--store", action="append", choices=("sqlite", "postgres"))
    parser.add_argument("--no-write", action="store_true", help="do not write RESULTS.md")
    args = parser.parse_args()
    if args.worker:
        worker_main(*args.worker)
        return
    recipients = args.recipients or (1000 if args.quick else 10_000)
    audience = args.broadcast or (10_000 if args.quick else 100_000)
    stores = args.store or ["sqlite", "postgres"]
    result: dict[str, Any] = {"environment": environment(), "stores": {}, "broadcast": {}}
    if "postgres" in stores:
        result["pgbench"] = pgbench_rate()
    for store in stores:
        if args.only != "single":
            log(f"{store}: broadcast to {audience} recipients")
            with tempfile.TemporaryDirectory(prefix="tidings-bench-notify-") as tmp:
                result["broadcast"][store] = run_broadcast(store, audience, Path(tmp))
        if args.only != "broadcast":
            log(f"{store}: {recipients} single notifications")
            with tempfile.TemporaryDirectory(prefix="tidings-bench-notify-") as tmp:
                result["stores"][store] = run_store(store, recipients, Path(tmp))
    print(json.dumps(result, indent=2))
    if not args.no_write:
        write_section("notify", markdown(result))
        log(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
