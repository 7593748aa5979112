"""Bulk actions over a backend's database object (see :mod:`tidings.store.bulk`)."""

from __future__ import annotations

import builtins
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from tidings.store.bulk import BulkActions, BulkRow, MatchedRun, NewBulkAction, Replay, RunFilter
from tidings.store.db.database import Bound, Row, Tx
from tidings.store.db.runs import insert_run
from tidings.store.db.waits import child_finished
from tidings.store.runs import NewRun


def _json_list(values: tuple[str, ...] | None) -> str | None:
    return None if values is None else json.dumps(list(values))


def _tuple(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(str(v) for v in json.loads(text))


class DbBulkActions(Bound, BulkActions):
    def _filter_params(self, f: RunFilter, upto: datetime, bulk_task: str) -> dict[str, Any]:
        return {
            "tasks": self._array(f.tasks),
            "statuses": self._array(f.statuses),
            "needles": None if f.tags is None else self._array([json.dumps(t) for t in f.tags]),
            "created_after": self._ts(f.created_after),
            "created_before": self._ts(f.created_before),
            "upto": self._ts(upto),
            "bulk_task": bulk_task,
        }

    def count(self, filter: RunFilter, upto: datetime, bulk_task: str) -> int:
        with self._transaction(write=False) as tx:
            rows = tx.run("count_bulk_matches", self._filter_params(filter, upto, bulk_task))
        return int(rows[0]["n"])

    def create(self, new: NewBulkAction, now: datetime, idempotency_ttl: timedelta) -> BulkRow:
        f = new.filter
        with self._transaction(write=True) as tx:
            params = self._filter_params(f, now, new.run.task_id)
            total = int(tx.run("count_bulk_matches", params)[0]["n"])
            if total:
                insert_run(self._db, tx, new.run, now, idempotency_ttl)
            tx.run(
                "insert_bulk_action",
                {
                    "id": new.id,
                    "kind": new.kind,
                    "tasks_json": _json_list(f.tasks),
                    "statuses_json": _json_list(f.statuses),
                    "tags": _json_list(f.tags),
                    "created_after": self._ts(f.created_after),
                    "created_before": self._ts(f.created_before),
                    "upto": self._ts(now),
                    "run_id": new.run.id if total else None,
                    "page_size": new.page_size,
                    "total": total,
                    "now": self._ts(now),
                    "finished_at": None if total else self._ts(now),
                },
            )
            row = tx.run("get_bulk_action", {"id": new.id})[0]
        return self._row(row)

    def get(self, bulk_id: str) -> BulkRow | None:
        with self._transaction(write=False) as tx:
            rows = tx.run("get_bulk_action", {"id": bulk_id})
        return self._row(rows[0]) if rows else None

    def list(self, limit: int) -> builtins.list[BulkRow]:
        with self._transaction(write=False) as tx:
            rows = tx.run("list_bulk_actions", {"limit": limit})
        return [self._row(r) for r in rows]

    def page(self, row: BulkRow, bulk_task: str) -> builtins.list[MatchedRun]:
        params = {
            **self._filter_params(row.filter, row.upto, bulk_task),
            "cursor_at": self._ts(row.cursor_at),
            "cursor_id": row.cursor_id,
            "limit": row.page_size,
        }
        with self._transaction(write=False) as tx:
            rows = tx.run("bulk_page", params)
        return [
            MatchedRun(
                id=str(r["id"]),
                task_id=str(r["task_id"]),
                status=str(r["status"]),
                payload=str(r["payload"]),
                priority=int(r["priority"]),
                queue=str(r["queue"]),
                tags=tuple(json.loads(r["tags"] or "[]")),
                created_at=self._req(r["created_at"]),
            )
            for r in rows
        ]

    def _advance(self, tx: Tx, row: BulkRow, runs: Sequence[MatchedRun], now: datetime) -> bool:
        """Move the action past ``runs`` (the last page if it is short); False if a page
        was recorded since ``row`` was read (then nothing may be written)."""
        last = runs[-1] if runs else None
        finished = len(runs) < row.page_size
        tx.run(
            "advance_bulk_action",
            {
                "id": row.id,
                "pages": row.pages,
                "cursor_at": None if last is None else self._ts(last.created_at),
                "cursor_id": None if last is None else last.id,
                "n": len(runs),
                "finished_at": self._ts(now) if finished else None,
            },
        )
        return tx.rowcount() == 1

    def cancel_page(
        self, row: BulkRow, runs: Sequence[MatchedRun], now: datetime
    ) -> tuple[BulkRow, builtins.list[str]]:
        cancelled: builtins.list[str] = []
        # The action's row moves first: its lock makes a concurrent executor of the
        # same page wait, then find the page count moved and write nothing.
        with self._transaction(write=True) as tx:
            if self._advance(tx, row, runs, now) and runs:
                # A cancel action's statuses are always set (active ones by default).
                statuses = list(row.filter.statuses or ("QUEUED", "WAITING", "RUNNING"))
                params = {
                    "ids": self._array([r.id for r in runs]),
                    "statuses": self._array(statuses),
                    "now": self._ts(now),
                }
                done = tx.run("bulk_cancel_runs", params)
                cancelled = sorted(str(r["id"]) for r in done)
                if cancelled:
                    gone = {"ids": self._array(cancelled)}
                    tx.run("bulk_delete_waits", gone)
                    tx.run("bulk_delete_cancel_keys", gone)
                for r in done:  # a parent in trigger_and_wait hears of its child
                    if r["parent_run_id"]:
                        child_finished(self._db, tx, str(r["id"]), "CANCELLED", None, None, now)
                tx.run("add_bulk_changed", {"id": row.id, "changed": len(cancelled)})
            after = tx.run("get_bulk_action", {"id": row.id})[0]
        return self._row(after), cancelled

    def replay_page(
        self,
        row: BulkRow,
        runs: Sequence[MatchedRun],
        replays: Sequence[Replay],
        now: datetime,
        idempotency_ttl: timedelta,
    ) -> tuple[BulkRow, builtins.list[str]]:
        created: builtins.list[str] = []
        with self._transaction(write=True) as tx:
            if self._advance(tx, row, runs, now):
                for replay in replays:
                    if replay.run is None:
                        continue
                    params = {
                        "bulk_id": row.id,
                        "source_run_id": replay.source_id,
                        "run_id": replay.run.id,
                    }
                    tx.run("insert_bulk_replay", params)
                    if tx.rowcount() != 1:  # replayed by this action before
                        continue
                    run_id, made = insert_run(self._db, tx, replay.run, now, idempotency_ttl)
                    if made:
                        created.append(run_id)
                tx.run("add_bulk_changed", {"id": row.id, "changed": len(created)})
            after = tx.run("get_bulk_action", {"id": row.id})[0]
        return self._row(after), created

    def fork(self, new: NewRun, source_run_id: str, steps: Sequence[str], now: datetime) -> None:
        with self._transaction(write=True) as tx:
            # a fork is never gated nor keyed: insert_run writes it as it is
            insert_run(self._db, tx, new, now, timedelta(0))
            if steps:
                params = {
                    "run_id": new.id,
                    "source_run_id": source_run_id,
                    "names": self._array(list(steps)),
                }
                tx.run("copy_steps", params)

    def _row(self, r: Row) -> BulkRow:
        return BulkRow(
            id=str(r["id"]),
            kind=str(r["kind"]),
            filter=RunFilter(
                tasks=_tuple(r["tasks"]),
                statuses=_tuple(r["statuses"]),
                tags=_tuple(r["tags"]),
                created_after=self._dt(r["created_after"]),
                created_before=self._dt(r["created_before"]),
            ),
            upto=self._req(r["upto"]),
            run_id=r["run_id"],
            run_status=r["run_status"],
            page_size=int(r["page_size"]),
            total=int(r["total"]),
            done=int(r["done"]),
            changed=int(r["changed"]),
            pages=int(r["pages"]),
            cursor_at=self._dt(r["cursor_at"]),
            cursor_id=r["cursor_id"],
            created_at=self._req(r["created_at"]),
            finished_at=self._dt(r["finished_at"]),
        )
