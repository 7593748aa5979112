"""Hot statements of the SQLite store cost the same at any backlog.

Each statement is loaded by name from the store's own ``.sql`` files and explained
(``EXPLAIN QUERY PLAN``) on a migrated store holding a backlog, both without statistics
(a fresh file) and after ``ANALYZE`` of a realistic mix (most runs finished, many
sleeping, a few due): a plan that scans a big table, or sorts all its matching rows
for ORDER BY, fails. A second test counts the virtual-machine instructions one claim
executes at two backlogs, ten times apart: the real cost, not the plan's promise.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import START
from tidings.store import open_store
from tidings.store.queries import load_all_queries
from tidings.store.runs import NewRun
from tidings.store.sqlite.store import SqliteStore

BACKLOG = 3000
BIG = (
    "runs|r|steps|events|event_waits|notifications|deliveries|inbox_items|scheduled_events"
    "|schedules|notify_dedup|idempotency_keys|run_cancel_keys"
)
FULL_SCAN = re.compile(rf"^SCAN ({BIG})\b")
US = 1_000_000
NOW = int(START.timestamp()) * US

# name -> (parameters beyond NULLs, a line the plan must hold, whether a sort is allowed).
# A claim sorts at most its batch per priority (the candidates of runs_claim's ranges),
# never the backlog; the flow claim also ranks the runs of its limited tasks.
HOT: dict[str, tuple[dict[str, Any], str, bool]] = {
    # claim, timers coming due, expired leases
    "claim_due": ({"now": NOW, "limit": 50}, "runs_claim (priority=? AND due_at<?)", True),
    "claim_due_in_queues": (
        {"now": NOW, "limit": 50, "queues": '["q1"]'},
        "runs_claim (priority=? AND due_at<?)",
        True,
    ),
    "claim_runs_flow": (
        {"now": NOW, "limit": 50, "flow": '[{"task": "limited", "concurrency": 2}]'},
        "runs_claim (priority=? AND due_at<?)",
        True,
    ),
    "next_due": ({}, "runs_due (due_at>?)", False),
    # trigger
    "insert_run": ({}, "", False),
    "find_idempotent": ({"task_id": "job", "key": "k"}, "(task_id=? AND key=?)", False),
    # complete, step write, lease check
    "finish_attempt": ({"run_id": "run_00001"}, "(id=?)", False),
    "upsert_step": ({"run_id": "run_00001"}, "", False),
    "check_lease": ({"run_id": "run_00001"}, "(id=?)", False),
    "steps_of_runs": ({"run_ids": '["run_00001"]'}, "(run_id=?)", True),
    "renew_leases": ({"run_ids": '["run_00001"]'}, "(id=?)", False),
    # event waits, cancel keys, delayed events
    "find_waits": ({"name": "e"}, "event_waits_lookup", False),
    "wait_shapes": ({"name": "e"}, "(event_name=?)", False),
    "find_cancel_keys": ({}, "", False),
    "due_scheduled_events": ({"now": NOW, "limit": 50}, "scheduled_events_due", False),
    "next_scheduled_event": ({}, "scheduled_events_due", False),
    # schedule tick
    "due_schedules": ({"now": NOW, "limit": 50, "task_ids": '["job"]'}, "schedules", False),
    "next_schedule_due": ({"task_ids": '["job"]'}, "schedules", False),
    # notification record, inbox page
    "find_dedup": ({"key": "k"}, "(key=?)", False),
    "reserve_dedup_many": ({"rows": "[]"}, "", False),
    "insert_notifications_many": ({"rows": "[]"}, "", False),
    "insert_deliveries_many": ({"rows": "[]"}, "", False),
    "insert_inbox_items_many": ({"rows": "[]"}, "", False),
    "list_inbox": ({"recipient_id": "u", "limit": 20}, "inbox_items_recipient", False),
    "unread_count": ({"recipient_id": "u"}, "inbox_items_unread", False),
    # dashboard lists
    "dash_runs": ({"limit": 50}, "runs_created", False),
    "dash_runs_status": ({"status": "QUEUED", "limit": 50}, "runs_status_created", False),
    "dash_runs_task": ({"task_id": "job", "limit": 50}, "runs_task_created", False),
    "dash_events": ({"limit": 50}, "events_received", False),
    "dash_events_name": ({"name": "e", "limit": 50}, "events_name_received", False),
}


def _plan(conn: sqlite3.Connection, sql: str, given: dict[str, Any]) -> list[str]:
    params = dict.fromkeys(re.findall(r":([a-z_][a-z0-9_]*)", sql))
    params.update(given)
    return [str(r[3]) for r in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]


def _backlog(path: Path, n: int, *, due: int) -> SqliteStore:
    """A store holding ``n`` runs of which ``due`` are due at START, the rest sleep a day."""
    store = open_store(f"sqlite:///{path}")
    assert isinstance(store, SqliteStore)
    store.migrate()
    news = [
        NewRun(
            f"run_{i:05d}",
            "job",
            "q1" if i % 2 else "q2",
            0,
            "{}",
            START if i < due else START + timedelta(days=1),
        )
        for i in range(n)
    ]
    store.runs.create_many(news, START, timedelta(days=1))
    return store


@pytest.fixture(params=["no-statistics", "analyzed"])
def explained(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sqlite3.Connection]:
    store = _backlog(tmp_path / "plans.db", BACKLOG, due=100)
    store.close()
    conn = sqlite3.connect(tmp_path / "plans.db")
    if request.param == "analyzed":
        # the mix a store grows into: most runs finished, many asleep, a few due
        conn.execute(
            "UPDATE runs SET status = 'COMPLETED', due_at = NULL, finished_at = created_at "
            "WHERE rowid % 3 <> 0 AND due_at > ?",
            (NOW,),
        )
        conn.execute(
            "UPDATE runs SET status = 'WAITING' WHERE status = 'QUEUED' AND due_at > ?", (NOW,)
        )
        conn.commit()
        conn.execute("ANALYZE")
        assert conn.execute("SELECT COUNT(*) FROM sqlite_stat1").fetchone()[0] > 0
    yield conn
    conn.close()


def test_every_hot_statement_uses_an_index_and_sorts_no_backlog(
    explained: sqlite3.Connection,
) -> None:
    queries = load_all_queries("tidings.store.sqlite")
    for name, (given, must, sort_allowed) in HOT.items():
        plan = _plan(explained, queries[name], given)
        scans = [line for line in plan if FULL_SCAN.match(line)]
        assert not scans, (name, plan)
        if not sort_allowed:
            assert not [p for p in plan if p == "USE TEMP B-TREE FOR ORDER BY"], (name, plan)
        if must:
            assert any(must in line for line in plan), (name, must, plan)


def _claim_instructions(store: SqliteStore, queues: list[str] | None) -> int:
    """Virtual-machine instructions (in thousands) one claim of 50 executes."""
    count = 0

    def tick() -> int:
        nonlocal count
        count += 1
        return 0

    conn = store.db._conn  # the store's own connection: the statement it really runs
    conn.set_progress_handler(tick, 1000)
    try:
        store.runs.claim("w", queues, START, START + timedelta(minutes=1), limit=50)
    finally:
        conn.set_progress_handler(None, 0)
    return count


@pytest.mark.parametrize("due", [100, 10], ids=["more-due-than-a-batch", "fewer-due"])
@pytest.mark.parametrize("queues", [None, ["q1"]], ids=["all-queues", "one-queue"])
def test_a_claim_costs_the_same_at_ten_times_the_backlog(
    tmp_path: Path, due: int, queues: list[str] | None
) -> None:
    small = _backlog(tmp_path / "small.db", 2_000, due=due)
    large = _backlog(tmp_path / "large.db", 20_000, due=due)
    try:
        cost_small = _claim_instructions(small, queues)
        cost_large = _claim_instructions(large, queues)
        assert small.runs.next_due(None) is not None
    finally:
        small.close()
        large.close()
    # the old plan read and sorted every active run: ten times the backlog, ten times
    # the instructions. A B-tree probe grows by a level at most.
    assert cost_large <= 1.5 * cost_small + 2, (cost_small, cost_large)
