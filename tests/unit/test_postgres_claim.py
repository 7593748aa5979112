"""The claim stays O(batch) on PostgreSQL: never a prepared (later generic) statement,
and its plan walks runs_claim in order and stops after LIMIT rows, also while the
table's statistics still describe it as empty (a burst right after it was created)."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import START
from tidings.store import open_store
from tidings.store.postgres.store import PostgresStore
from tidings.store.runs import NewRun

PgSchema = tuple[str, str]
BACKLOG = 3000


def _store_with_backlog(url: str, *, analyze: bool = True) -> PostgresStore:
    store = open_store(url)
    assert isinstance(store, PostgresStore)
    store.migrate()
    news = [
        NewRun(f"run_{i:05d}", "job", "q1" if i % 2 else "q2", 0, "{}", START)
        for i in range(BACKLOG)
    ]
    store.runs.create_many(news, START, timedelta(days=1))
    if analyze:
        with store.db._pool.connection() as conn:
            conn.execute("ANALYZE runs")
    return store


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(n for child in plan.get("Plans", []) for n in _nodes(child))]


def test_the_claim_is_never_prepared(pg_schema: PgSchema) -> None:
    url, _ = pg_schema
    store = _store_with_backlog(url)
    try:
        for n in range(12):  # psycopg prepares a statement from its 5th execution
            store.runs.claim("w", None, START, START + timedelta(minutes=1), limit=10)
            store.runs.claim("w", ["q1"], START, START + timedelta(minutes=1), limit=10)
            store.runs.get(f"run_{n:05d}")
        prepared = []
        for pool in (store.db._pool, store.db._claim_pool):  # sequential use: one connection each
            with pool.connection() as conn:
                query = "SELECT statement FROM pg_prepared_statements"
                prepared += [str(r[0]) for r in conn.execute(query)]
    finally:
        store.close()
    assert any("FROM runs WHERE id" in s for s in prepared), prepared  # get_run was
    assert not [s for s in prepared if "SKIP LOCKED" in s or "MIN(due_at)" in s], prepared


@pytest.mark.parametrize("analyze", [True, False], ids=["analyzed", "stale-statistics"])
def test_the_claim_plan_walks_the_claim_index_and_stops_at_the_limit(
    pg_schema: PgSchema, analyze: bool
) -> None:
    url, _ = pg_schema
    store = _store_with_backlog(url, analyze=analyze)
    params = {
        "worker_id": "w",
        "token": "t",
        "now": START,
        "lease_until": START + timedelta(minutes=1),
        "limit": 10,
        "queues": ["q1"],
    }
    try:
        with store.db._claim_pool.connection() as conn:  # where the store sends claims
            for name in ("claim_due", "claim_due_in_queues", "next_due"):
                row = conn.execute(
                    "EXPLAIN (FORMAT JSON) " + store.db.queries[name], params, prepare=False
                ).fetchone()
                assert row is not None
                plan = row[0] if isinstance(row[0], list) else json.loads(row[0])
                nodes = _nodes(plan[0]["Plan"])
                kinds = [n["Node Type"] for n in nodes]
                assert not {"Sort", "Seq Scan", "Bitmap Heap Scan"} & set(kinds), (name, kinds)
                assert "Limit" in kinds, (name, kinds)
                scans = [n.get("Index Name") for n in nodes if "Index" in n["Node Type"]]
                want = "runs_due" if name == "next_due" else "runs_claim"
                assert want in scans, (name, scans)
    finally:
        store.close()


# Every hot statement (trigger, complete, step write, lease, timers, event waits, delayed
# events, schedule tick, notification record, inbox page, dashboard lists): name ->
# parameters beyond NULLs. A Sort is allowed only where it orders one run's rows.
T0 = START
HOT: dict[str, dict[str, Any]] = {
    "claim_due": {"now": T0, "lease_until": T0, "limit": 50},
    "claim_due_in_queues": {"now": T0, "lease_until": T0, "limit": 50, "queues": ["q1"]},
    "next_due": {},
    "insert_run": {
        "id": "x",
        "task_id": "job",
        "queue": "q1",
        "priority": 0,
        "now": T0,
        "run_at": T0,
        "payload": "{}",
        "tags": "[]",
    },
    "find_idempotent": {"task_id": "job", "key": "k", "now": T0},
    "finish_attempt": {"run_id": "run_00001", "token": "t", "status": "COMPLETED"},
    "check_lease": {"run_id": "run_00001", "token": "t"},
    "renew_leases": {"worker_id": "w", "run_ids": ["run_00001"], "lease_until": T0},
    "upsert_step": {
        "run_id": "run_00001",
        "name": "s",
        "kind": "step",
        "status": "completed",
        "attempts": 1,
    },
    "wake_waiting_run": {"run_id": "run_00001", "now": T0},
    "find_waits": {"name": "e", "paths": "[]", "key": "[]"},
    "wait_shapes": {"name": "e"},
    "due_scheduled_events": {"now": T0, "limit": 50},
    "next_scheduled_event": {},
    "due_schedules": {"now": T0, "limit": 50, "task_ids": ["job"]},
    "next_schedule_due": {"task_ids": ["job"]},
    "find_dedup": {"key": "k", "now": T0},
    "list_inbox": {"recipient_id": "u", "unread_only": False, "archived": False, "limit": 20},
    "unread_count": {"recipient_id": "u"},
    "dash_runs": {"since": T0 - timedelta(days=30), "until": T0, "limit": 50},
    "dash_runs_status": {
        "status": "QUEUED",
        "since": T0 - timedelta(days=30),
        "until": T0,
        "limit": 50,
    },
    "dash_runs_task": {
        "task_id": "job",
        "since": T0 - timedelta(days=30),
        "until": T0,
        "limit": 50,
    },
    "dash_events": {"limit": 50},
    "dash_events_name": {"name": "e", "limit": 50},
}
PER_RUN_SORTS = {"steps_of_runs", "get_steps"}
BIG = {
    "runs",
    "steps",
    "events",
    "event_waits",
    "notifications",
    "deliveries",
    "inbox_items",
    "scheduled_events",
    "schedules",
    "notify_dedup",
    "idempotency_keys",
}


def test_every_hot_statement_has_a_plan_that_neither_scans_nor_sorts(pg_schema: PgSchema) -> None:
    """With sequential scans and sorts priced out, a plan that still holds one has no
    index to walk: that statement would read (or sort) the backlog once the table is
    big, whatever the statistics. The claims are also planned with the planner's own
    costs on an analyzed backlog (the test above)."""
    url, _ = pg_schema
    store = _store_with_backlog(url)
    try:
        with store.db._pool.connection() as conn:
            conn.execute("SET enable_seqscan = off")
            conn.execute("SET enable_sort = off")
            for name, given in HOT.items():
                sql = store.db.queries[name]
                params: dict[str, Any] = dict.fromkeys(re.findall(r"%\(([a-z_]+)\)s", sql))
                params.update(given)
                with conn.transaction():
                    row = conn.execute("EXPLAIN (FORMAT JSON) " + sql, params, prepare=False)
                    plan = row.fetchone()
                assert plan is not None
                doc = plan[0] if isinstance(plan[0], list) else json.loads(plan[0])
                nodes = _nodes(doc[0]["Plan"])
                scans = [n.get("Relation Name") for n in nodes if n["Node Type"] == "Seq Scan"]
                assert not set(scans) & BIG, (name, scans)
                if name not in PER_RUN_SORTS:
                    assert "Sort" not in [n["Node Type"] for n in nodes], (name, nodes)
    finally:
        store.close()
