"""Every statement of tidings.prune finds its rows by an index, in deletion order, on
SQLite: no scan of a big table, no sort of the backlog (a batch costs the same at any
table size). The plans are read from the store's own ``pruning.sql``, on a store holding
a backlog, with and without statistics (tests/unit/test_sqlite_plans.py's fixture)."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from tests.unit.test_sqlite_plans import NOW, _plan, explained  # noqa: F401 - the fixture
from tidings.store.queries import load_queries

TABLES = (
    "runs|r|c|p|steps|run_logs|event_waits|run_cancel_keys|event_resumes|run_sources|"
    "flow_gates|events|webhook_events|notifications|n|deliveries|d|inbox_items|i|"
    "inbox_changes|outbox|idempotency_keys|notify_dedup|digests|digest_items|broadcasts|b|"
    "broadcast_audience|prunes|wait_tokens|questions|bulk_actions|bulk_replays"
)
FULL_SCAN = re.compile(rf"^SCAN ({TABLES})\b(?! USING)")
IDS = '["run_00001", "run_00002"]'
KEYSET = {"cutoff": NOW, "after_at": 0, "after_id": "", "limit": 2000}

# name -> (parameters beyond NULLs, the index its plan must use, or "")
PRUNE: dict[str, tuple[dict[str, Any], str]] = {
    "prune_runs_candidates": (KEYSET, "runs_prune"),
    "prune_runs_count": ({"cutoff": NOW}, "runs_prune"),
    "prune_run_steps": ({"ids": IDS}, "steps"),
    "prune_run_logs": ({"ids": IDS}, "run_logs_run"),
    "prune_run_waits": ({"ids": IDS}, "event_waits"),
    "prune_run_cancel_keys": ({"ids": IDS}, "run_cancel_keys_run"),
    "prune_run_resumes": ({"ids": IDS}, "event_resumes_run"),
    "prune_run_sources": ({"ids": IDS}, "run_sources"),
    "prune_run_gates": ({"ids": IDS}, "flow_gates_run"),
    "prune_run_tokens": ({"ids": IDS}, "wait_tokens_step"),
    "prune_run_replay_marks": ({"ids": IDS}, "bulk_replays_run"),
    "prune_run_bulk_replays": ({"ids": IDS}, "bulk_actions_run"),
    "prune_run_bulk_actions": ({"ids": IDS}, "bulk_actions_run"),
    "prune_run_rows": ({"ids": IDS}, "runs"),
    "prune_deliveries_candidates": (KEYSET, "notifications_created"),
    "prune_deliveries_count": ({"cutoff": NOW}, "notifications_created"),
    "prune_delivery_rows": ({"ids": IDS}, "deliveries"),
    "prune_notification_rows": ({"ids": IDS}, "notifications"),
    "prune_inbox_candidates": (KEYSET, "inbox_items_created"),
    "prune_inbox_count": ({"cutoff": NOW}, "inbox_items_created"),
    "prune_inbox_rows": ({"ids": IDS}, "inbox_items"),
    "prune_events": ({"cutoff": NOW, "limit": 2000}, "events_received"),
    "prune_events_count": ({"cutoff": NOW}, "events_received"),
    "prune_webhook_events": ({"cutoff": NOW, "limit": 2000}, "webhook_events_received"),
    "prune_webhook_events_count": ({"cutoff": NOW}, "webhook_events_received"),
    "prune_outbox": ({"cutoff": NOW, "limit": 2000}, "outbox_created"),
    "prune_outbox_count": ({"cutoff": NOW}, "outbox_created"),
    "prune_inbox_changes": ({"cutoff": NOW, "limit": 2000}, "inbox_changes_at"),
    "prune_inbox_changes_count": ({"cutoff": NOW}, "inbox_changes_at"),
    "prune_idempotency_keys": ({"cutoff": NOW, "limit": 2000}, "idempotency_keys_expires"),
    "prune_idempotency_keys_count": ({"cutoff": NOW}, "idempotency_keys_expires"),
    "prune_dedup_keys": ({"cutoff": NOW, "limit": 2000}, "notify_dedup_expires"),
    "prune_dedup_keys_count": ({"cutoff": NOW}, "notify_dedup_expires"),
    "prune_digests_pick": ({"cutoff": NOW, "limit": 2000}, "digests_closed"),
    "prune_digests_count": ({"cutoff": NOW}, "digests_closed"),
    "prune_digest_items": ({"ids": IDS}, "digest_items_digest"),
    "prune_digest_rows": ({"ids": IDS}, "digests"),
    "prune_broadcasts_pick": ({"cutoff": NOW}, "broadcasts_finished"),
    "prune_broadcasts_count": ({"cutoff": NOW}, "broadcasts_finished"),
    "prune_broadcast_audience": ({"id": "b1", "limit": 2000}, "broadcast_audience"),
    "prune_prunes": ({"cutoff": NOW, "limit": 2000}, "prunes_started"),
    "prune_prunes_count": ({"cutoff": NOW}, "prunes_started"),
    "prune_oldest_runs": ({}, "runs_prune"),
    "prune_oldest_events": ({}, "events_received"),
    "prune_oldest_deliveries": ({}, "notifications_created"),
    "prune_oldest_outbox": ({}, "outbox_created"),
    "prune_oldest_inbox": ({}, "inbox_items_created"),
}
WHOLE_TABLE_OK = {"prune_running_since", "insert_prune", "last_prune", "prune_broadcast_row"}


def test_every_prune_statement_uses_an_index_and_sorts_nothing(
    explained: sqlite3.Connection,  # noqa: F811 - the fixture imported above
) -> None:
    queries = load_queries("tidings.store.sqlite", "pruning.sql")
    assert set(queries) == set(PRUNE) | WHOLE_TABLE_OK  # every statement is checked
    for name, (given, must) in PRUNE.items():
        plan = _plan(explained, queries[name], given)
        scans = [line for line in plan if FULL_SCAN.match(line)]
        assert not scans, (name, plan)
        assert not [p for p in plan if "TEMP B-TREE" in p], (name, plan)
        assert any(must in line for line in plan), (name, must, plan)
