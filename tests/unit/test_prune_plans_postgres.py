"""Every statement of tidings.prune has a plan on PostgreSQL that neither scans a big
table nor sorts: each batch walks an index in deletion order and stops at its limit.
Each statement is planned as a batch plans it (``prune_plan_by_index`` first: scans
and hash joins priced out, see store/postgres/pruning.py), sorts priced out too: a plan
that still scans, hashes or sorts has no index to walk."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

from tests.unit.test_postgres_claim import T0, PgSchema, _nodes, _store_with_backlog
from tidings.store.queries import load_queries

IDS = ["run_00001", "run_00002"]
CUT = {"cutoff": T0}
PAGE = {"cutoff": T0, "limit": 2000}
KEYSET = {"cutoff": T0, "after_at": T0 - timedelta(days=90), "after_id": "", "limit": 2000}
PRUNE: dict[str, tuple[dict[str, Any], str]] = {
    "prune_runs_candidates": (KEYSET, "runs_prune"),
    "prune_runs_count": (CUT, "runs_prune"),
    "prune_run_steps": ({"ids": IDS}, "steps_pkey"),
    "prune_run_logs": ({"ids": IDS}, "run_logs_run"),
    "prune_run_waits": ({"ids": IDS}, "event_waits_pkey"),
    "prune_run_cancel_keys": ({"ids": IDS}, "run_cancel_keys_run"),
    "prune_run_resumes": ({"ids": IDS}, "event_resumes_run"),
    "prune_run_sources": ({"ids": IDS}, "run_sources_pkey"),
    "prune_run_gates": ({"ids": IDS}, "flow_gates_run"),
    "prune_run_tokens": ({"ids": IDS}, "wait_tokens_step"),
    "prune_run_replay_marks": ({"ids": IDS}, "bulk_replays_run"),
    "prune_run_bulk_replays": ({"ids": IDS}, "bulk_actions_run"),
    "prune_run_bulk_actions": ({"ids": IDS}, "bulk_actions_run"),
    "prune_run_rows": ({"ids": IDS}, "runs_pkey"),
    "prune_deliveries_candidates": (KEYSET, "notifications_created"),
    "prune_deliveries_count": (CUT, ""),  # a dry run's count: any index-only join
    "prune_delivery_rows": ({"ids": IDS}, "deliveries_notification_id_channel_key"),
    "prune_notification_rows": ({"ids": IDS}, "notifications_pkey"),
    "prune_inbox_candidates": (KEYSET, "inbox_items_created"),
    "prune_inbox_count": (CUT, "inbox_items_created"),
    "prune_inbox_rows": ({"ids": IDS}, "inbox_items_pkey"),
    "prune_events": (PAGE, "events_received"),
    "prune_events_count": (CUT, "events_received"),
    "prune_webhook_events": (PAGE, "webhook_events_received"),
    "prune_webhook_events_count": (CUT, "webhook_events_received"),
    "prune_outbox": (PAGE, "outbox_created"),
    "prune_outbox_count": (CUT, "outbox_created"),
    "prune_inbox_changes": (PAGE, "inbox_changes_at"),
    "prune_inbox_changes_count": (CUT, "inbox_changes_at"),
    "prune_idempotency_keys": (PAGE, "idempotency_keys_expires"),
    "prune_idempotency_keys_count": (CUT, "idempotency_keys_expires"),
    "prune_dedup_keys": (PAGE, "notify_dedup_expires"),
    "prune_dedup_keys_count": (CUT, "notify_dedup_expires"),
    "prune_digests_pick": (PAGE, "digests_closed"),
    "prune_digests_count": (CUT, "digests_closed"),
    "prune_digest_items": ({"ids": IDS}, "digest_items_digest"),
    "prune_digest_rows": ({"ids": IDS}, "digests_pkey"),
    "prune_broadcasts_pick": (CUT, "broadcasts_finished"),
    "prune_broadcasts_count": (CUT, "broadcasts_finished"),
    "prune_broadcast_audience": ({"id": "b1", "limit": 2000}, "broadcast_audience_pkey"),
    "prune_prunes": (PAGE, "prunes_started"),
    "prune_prunes_count": (CUT, "prunes_started"),
    "prune_oldest_runs": ({}, "runs_prune"),
    "prune_oldest_events": ({}, "events_received"),
    "prune_oldest_deliveries": ({}, "notifications_created"),
    "prune_oldest_outbox": ({}, "outbox_created"),
    "prune_oldest_inbox": ({}, "inbox_items_created"),
}
WHOLE_TABLE_OK = {
    "prune_running_since",
    "insert_prune",
    "last_prune",
    "prune_broadcast_row",
    "prune_plan_by_index",
}


def test_every_prune_statement_walks_an_index_and_sorts_nothing(pg_schema: PgSchema) -> None:
    url, _ = pg_schema
    store = _store_with_backlog(url)
    queries = load_queries("tidings.store.postgres", "pruning.sql")
    assert set(queries) == set(PRUNE) | WHOLE_TABLE_OK  # every statement is checked
    try:
        with store.db._pool.connection() as conn:
            conn.execute("SET enable_sort = off")
            for name, (given, index) in PRUNE.items():
                sql = queries[name]
                params: dict[str, Any] = dict.fromkeys(re.findall(r"%\(([a-z_]+)\)s", sql))
                params.update(given)
                with conn.transaction():
                    conn.execute(queries["prune_plan_by_index"])
                    row = conn.execute("EXPLAIN (FORMAT JSON) " + sql, params, prepare=False)
                    plan = row.fetchone()
                assert plan is not None
                doc = plan[0] if isinstance(plan[0], list) else json.loads(plan[0])
                nodes = _nodes(doc[0]["Plan"])
                types = [n["Node Type"] for n in nodes]
                assert not {"Seq Scan", "Bitmap Heap Scan", "Hash Join"} & set(types), (name, types)
                assert "Sort" not in types, (name, types)
                used = {n.get("Index Name") for n in nodes}
                assert not index or index in used, (name, index, used)
    finally:
        store.close()
