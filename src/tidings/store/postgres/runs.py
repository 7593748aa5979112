"""Runs on PostgreSQL, where the SQL logic differs from the shared one: a run without
cancel keys is created in one statement, flow-limited claims are serialised by an
advisory lock, and attempts' writes are group-committed (:class:`GroupCommit`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from tidings.store.db.database import Row, Tx
from tidings.store.db.runs import run_params
from tidings.store.postgres.database import PgTx, PostgresDatabase, lock_key
from tidings.store.postgres.groupcommit import GroupCommit
from tidings.store.runs import NewRun


class PostgresRuns(GroupCommit):
    def __init__(self, db: PostgresDatabase) -> None:
        super().__init__(db)
        self._flow_lock = {"key": lock_key(db.schema, "flow")}

    def create(
        self,
        new: NewRun,
        now: datetime,
        idempotency_ttl: timedelta,
        cancelled: list[str] | None = None,
    ) -> tuple[str, bool]:
        if new.cancel_keys or new.gate is not None:  # several statements: the shared path
            return super().create(new, now, idempotency_ttl, cancelled)
        params = {
            **run_params(self._db, new, now),
            "concurrency_key": new.concurrency_key,
            "rate_key": new.rate_key,
            "traceparent": new.traceparent,
            "expires_at": now + idempotency_ttl,
        }
        with self._autocommit(write=True) as tx:
            if new.idempotency_key is None:
                tx.run("insert_run_now", params)
                return new.id, True
            holder = str(tx.run("insert_run_keyed", params)[0]["run_id"])
        return holder, holder == new.id

    def _claim_flow(self, tx: Tx, params: Mapping[str, Any]) -> list[Row]:
        # The lock and the claim go in one pipeline (one round trip), and the claim's
        # snapshot is taken only once the lock is held. A single lock per schema: claims
        # of limited runs take turns across workers (running them does not).
        assert isinstance(tx, PgTx)
        return tx.run_after("lock_flow", self._flow_lock, "claim_runs_flow", params)
