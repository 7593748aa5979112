"""A million finished runs pruned while a worker runs, on both stores.

The backlog is written straight into the tables (a million runs through the engine would
take the test's whole budget): a million finished runs two months old, every tenth with
a step and a log line, and beside them old rows an active run still needs (waiting runs,
a finished child of a waiting parent). A worker meanwhile runs a stream of new runs.
Each pruning transaction must stay within its batch bound (counted in rows, not timed),
nothing active may lose a row, and the worker's runs must all complete.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import psycopg
import psycopg.sql
import pytest

from tidings import Context, Retention, RunStatus, Tidings
from tidings.engine.worker import Worker
from tidings.errors import UnknownRunError
from tidings.handle import RunHandle
from tidings.store.postgres.database import parse_url
from tidings.store.urls import path_from_url

N = 1_000_000
ACTIVE = 1_000
"""Old WAITING runs (created two months ago, still sleeping)."""
CHILDREN = 100
"""Finished children (two months old) of those waiting parents: kept while they wait."""
BATCH = 2000
PER_RUN = 3  # a run, its step, its log line: the most rows one pruned run brings

SQLITE_FILL = [
    """WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < :n)
    INSERT INTO runs (id, task_id, status, payload, created_at, run_at, started_at,
                      finished_at, result)
    SELECT printf('old_%07d', x), 'old', 'COMPLETED', '{}', :old + x, :old + x, :old + x,
           :old + x, '1' FROM n""",
    """INSERT INTO steps (run_id, name, seq, kind, status, result)
    SELECT id, 'one', 1, 'step', 'completed', '1' FROM runs
    WHERE task_id = 'old' AND CAST(substr(id, 5) AS INTEGER) % 10 = 0""",
    """INSERT INTO run_logs (run_id, at, level, message, attempt)
    SELECT run_id, 0, 'INFO', 'done', 1 FROM steps WHERE name = 'one'""",
    """WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < :active)
    INSERT INTO runs (id, task_id, status, payload, created_at, run_at, due_at, started_at)
    SELECT printf('active_%05d', x), 'sleeper', 'WAITING', '{}', :old, :old, :far, :old FROM n""",
    """INSERT INTO steps (run_id, name, seq, kind, status, started_at, wake_at)
    SELECT id, 'sleep', 1, 'sleep', 'waiting', :old, :far FROM runs WHERE task_id = 'sleeper'""",
    """WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < :children)
    INSERT INTO runs (id, task_id, status, payload, created_at, run_at, started_at,
                      finished_at, parent_run_id)
    SELECT printf('child_%05d', x), 'old', 'COMPLETED', '{}', :old, :old, :old, :old,
           printf('active_%05d', x) FROM n""",
]
PG_FILL = [
    """INSERT INTO runs (id, task_id, status, payload, created_at, run_at, started_at,
                        finished_at, result)
    SELECT 'old_' || lpad(x::text, 7, '0'), 'old', 'COMPLETED', '{}', t, t, t, t, '1'
    FROM generate_series(1, %(n)s) AS x,
         LATERAL (SELECT now() - interval '60 days' + x * interval '1 microsecond') AS w(t)""",
    """INSERT INTO steps (run_id, name, seq, kind, status, result)
    SELECT 'old_' || lpad(x::text, 7, '0'), 'one', 1, 'step', 'completed', '1'
    FROM generate_series(10, %(n)s, 10) AS x""",
    """INSERT INTO run_logs (run_id, at, level, message, attempt)
    SELECT run_id, now(), 'INFO', 'done', 1 FROM steps WHERE name = 'one'""",
    """INSERT INTO runs (id, task_id, status, payload, created_at, run_at, due_at, started_at)
    SELECT 'active_' || lpad(x::text, 5, '0'), 'sleeper', 'WAITING', '{}',
           now() - interval '60 days', now() - interval '60 days', now() + interval '300 days',
           now() - interval '60 days'
    FROM generate_series(1, %(active)s) AS x""",
    """INSERT INTO steps (run_id, name, seq, kind, status, started_at, wake_at)
    SELECT id, 'sleep', 1, 'sleep', 'waiting', created_at, due_at FROM runs
    WHERE task_id = 'sleeper'""",
    """INSERT INTO runs (id, task_id, status, payload, created_at, run_at, started_at,
                        finished_at, parent_run_id)
    SELECT 'child_' || lpad(x::text, 5, '0'), 'old', 'COMPLETED', '{}',
           now() - interval '60 days', now() - interval '60 days', now() - interval '60 days',
           now() - interval '60 days', 'active_' || lpad(x::text, 5, '0')
    FROM generate_series(1, %(children)s) AS x""",
    "ANALYZE",
]


def _fill(url: str) -> None:
    if url.startswith("sqlite:"):
        now_us = int(time.time() * 1_000_000)
        params = {
            "n": N,
            "active": ACTIVE,
            "children": CHILDREN,
            "old": now_us - 60 * 86_400 * 1_000_000,
            "far": now_us + 300 * 86_400 * 1_000_000,
        }
        conn = sqlite3.connect(path_from_url(url), isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        for statement in SQLITE_FILL:
            conn.execute(statement, {k: v for k, v in params.items() if f":{k}" in statement})
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
        conn.close()
        return
    conninfo, schema = parse_url(url)
    with psycopg.connect(conninfo, autocommit=True) as pg:
        pg.execute(psycopg.sql.SQL("SET search_path TO {}").format(psycopg.sql.Identifier(schema)))
        for statement in PG_FILL:
            pg.execute(statement, {"n": N, "active": ACTIVE, "children": CHILDREN})


def _count(app: Tidings, where: str) -> int:
    """Rows of ``runs`` matching ``where`` (plain SQL both stores accept)."""
    url = app.database_url
    query = f"SELECT COUNT(*) FROM runs WHERE {where}"
    if url.startswith("sqlite:"):
        conn = sqlite3.connect(path_from_url(url))
        try:
            return int(conn.execute(query).fetchone()[0])
        finally:
            conn.close()
    conninfo, schema = parse_url(url)
    with psycopg.connect(conninfo, autocommit=True) as pg:
        pg.execute(psycopg.sql.SQL("SET search_path TO {}").format(psycopg.sql.Identifier(schema)))
        row = pg.execute(query.encode()).fetchone()
        assert row is not None
        return int(row[0])


def _steps_of(app: Tidings, prefix: str) -> int:
    url = app.database_url
    query = f"SELECT COUNT(*) FROM steps WHERE run_id LIKE '{prefix}%'"
    if url.startswith("sqlite:"):
        conn = sqlite3.connect(path_from_url(url))
        try:
            return int(conn.execute(query).fetchone()[0])
        finally:
            conn.close()
    conninfo, schema = parse_url(url)
    with psycopg.connect(conninfo, autocommit=True) as pg:
        pg.execute(psycopg.sql.SQL("SET search_path TO {}").format(psycopg.sql.Identifier(schema)))
        row = pg.execute(query.encode()).fetchone()
        assert row is not None
        return int(row[0])


@contextmanager
def running(app: Tidings) -> Iterator[Worker]:
    worker = app.worker(concurrency=4)
    thread = threading.Thread(target=asyncio.run, args=(worker.run(),), daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.stop()
        thread.join(timeout=60)
        assert not thread.is_alive()


@pytest.mark.timeout(1800)
def test_a_million_finished_runs_are_pruned_while_a_worker_runs(database_url: str) -> None:
    app = Tidings(database_url, retention=Retention(runs=timedelta(days=30), batch=BATCH))

    @app.task
    async def busy(ctx: Context, payload: dict[str, Any]) -> int:
        await ctx.step("a", lambda: payload["n"])
        await ctx.sleep(timedelta(milliseconds=20))
        return int(await ctx.step("b", lambda: payload["n"] * 2))

    @app.task
    async def sleeper(ctx: Context, payload: Any) -> None:
        await ctx.sleep(timedelta(days=300))

    @app.task
    async def old(ctx: Context, payload: Any) -> None: ...

    app.migrate()
    filled = time.monotonic()
    _fill(database_url)
    fill_seconds = time.monotonic() - filled
    assert _count(app, "task_id = 'old'") == N + CHILDREN

    triggered: list[str] = []
    stop = threading.Event()

    def trigger_stream() -> None:
        n = 0
        while not stop.is_set():
            triggered.append(app.trigger("busy", {"n": n}).id)
            n += 1
            time.sleep(0.02)

    batches: list[int] = []
    with running(app):
        feeder = threading.Thread(target=trigger_stream, daemon=True)
        feeder.start()
        started = time.monotonic()
        report = app.prune(progress=lambda kind, deleted: batches.append(deleted))
        seconds = time.monotonic() - started
        stop.set()
        feeder.join(timeout=30)
        for run_id in triggered:  # the worker kept working, and finishes what it was given
            result = RunHandle(app.kernel, run_id).result(timeout=120)
            assert result == 2 * app.get_run(run_id).payload["n"]

    print(
        f"\nretention scale ({database_url.split(':', 1)[0]}): filled {N:,} runs in "
        f"{fill_seconds:.1f} s; pruned {report.counts['runs']:,} runs ({report.rows:,} rows) "
        f"in {seconds:.1f} s over {report.batches} transactions of at most "
        f"{report.max_batch_rows:,} rows, while the worker ran {len(triggered)} runs"
    )
    assert report.counts["runs"] == N
    assert report.complete
    # every transaction within its bound: BATCH runs and what belongs to them
    assert report.max_batch_rows <= BATCH * PER_RUN
    assert max(batches) <= BATCH
    assert report.batches >= N // BATCH
    # nothing an active run needs was touched
    assert _count(app, "task_id = 'old'") == CHILDREN
    assert _count(app, "task_id = 'sleeper' AND status = 'WAITING'") == ACTIVE
    assert _steps_of(app, "active_") == ACTIVE
    assert app.get_run("child_00001").status is RunStatus.COMPLETED
    with pytest.raises(UnknownRunError):
        app.get_run("old_0000010")
    assert app.prune(dry_run=True).counts["runs"] == 0
    app.close()
