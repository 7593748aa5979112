"""The claim stays O(batch) on PostgreSQL: never a prepared (later generic) statement,
and its plan walks runs_claim in order and stops after LIMIT rows, also while the
table's statistics still describe it as empty (a burst right after it was created)."""

from __future__ import annotations

import json
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
