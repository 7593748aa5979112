"""Debounce, batch and singleton in the store (migration 0016).

A trigger of a gated task (``NewRun.gate``) meets the other runs of its key in the
transaction that records it, under the lock of the key's row in ``flow_gates``: so
triggers of one key take turns across processes and hosts, and each lands in exactly
one run. The gate row points at the key's latest run; whether that run still takes
triggers (debounce, batch: queued, never started, not yet due) or still holds the key
(singleton: queued, running or waiting) is read from the run itself, so a run claimed,
finished or deleted needs no bookkeeping on the gate.

A transaction of many triggers (``trigger_many``, an event with several subscribers)
takes every gate it needs at the start, in one statement and in one order (on
PostgreSQL, no deadlock between two such transactions), and reads the runs they point at
in a second; it then follows its own changes in memory (:class:`Gates`), so each trigger
costs writes that need no answer, not round trips.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from tidings.store.db.database import Database, Row, Tx
from tidings.store.runs import Gate, NewRun

Cancel = Callable[[Database, Tx, str, datetime], bool]
ACTIVE = ("QUEUED", "RUNNING", "WAITING")


@dataclass
class _Run:
    """What the gates read of a run (and follow, within one transaction)."""

    payload: str
    created_at: datetime
    run_at: datetime
    coalesced: int
    status: str
    started: bool

    def open(self, now: datetime) -> bool:
        return self.status == "QUEUED" and not self.started and self.run_at > now


class Gates:
    """The gates of one transaction: looked up statement by statement, or (after
    :meth:`prefetch`) all locked and read at once and followed in memory."""

    def __init__(self, db: Database, tx: Tx) -> None:
        self.db, self.tx = db, tx
        self._points: dict[tuple[str, str], str] | None = None
        self._runs: dict[str, _Run | None] = {}

    @classmethod
    def prefetch(cls, db: Database, tx: Tx, news: Sequence[NewRun]) -> Gates | None:
        """Gates with every key of ``news`` locked and read; None if there are none."""
        first: dict[tuple[str, str], str] = {}
        for new in news:
            if new.gate is not None:
                first.setdefault((new.task_id, new.gate.key), new.id)
        if not first:
            return None
        gates = cls(db, tx)
        keys = list(first)
        params = {
            "task_ids": db.array([t for t, _ in keys]),
            "keys": db.array([k for _, k in keys]),
            "run_ids": db.array(list(first.values())),
        }
        rows = tx.run("lock_gates_many", params)
        gates._points = {(str(r["task_id"]), str(r["key"])): str(r["run_id"]) for r in rows}
        ours = set(first.values())
        held = sorted({r for r in gates._points.values() if r not in ours})
        gates._runs = dict.fromkeys(held)
        if held:
            for r in tx.run("lock_runs_many", {"ids": db.array(held)}):
                gates._runs[str(r["id"])] = gates._read(r)
        return gates

    def _read(self, r: Row) -> _Run:
        return _Run(
            payload=str(r["payload"]),
            created_at=self.db.req_dt(r["created_at"]),
            run_at=self.db.req_dt(r["run_at"]),
            coalesced=int(r["coalesced"] or 1),
            status=str(r["status"]),
            started=r["started_at"] is not None,
        )

    def held(self, new: NewRun, gate: Gate) -> str:
        """The run the key's gate points at (``new.id`` if the gate is new), locked."""
        if self._points is not None:
            return self._points[(new.task_id, gate.key)]
        where = {"task_id": new.task_id, "key": gate.key, "run_id": new.id}
        return str(self.tx.run("lock_gate", where)[0]["run_id"])

    def point(self, new: NewRun, gate: Gate) -> None:
        """Point the key's gate at ``new`` (about to be inserted)."""
        if self._points is not None:
            self._points[(new.task_id, gate.key)] = new.id
        self.tx.run("set_gate", {"task_id": new.task_id, "key": gate.key, "run_id": new.id})

    def run(self, run_id: str, now: datetime) -> _Run | None:
        """The run a gate points at, locked; None if it is gone."""
        if self._points is not None:
            return self._runs.get(run_id)
        rows = self.tx.run("lock_gated_run", {"id": run_id})
        return self._read(rows[0]) if rows else None

    def inserted(self, new: NewRun, now: datetime) -> None:
        """``new`` was inserted: follow it, and record its first source."""
        gate = new.gate
        if gate is None:
            return
        if self._points is not None:
            self._runs[new.id] = _Run(new.payload, now, new.run_at, 1, "QUEUED", False)
        if gate.kind != "singleton":
            self.tx.run("start_sources", {"id": new.id})
            source = {"run_id": new.id, "seq": 1, "source_id": gate.source, "at": self.db.ts(now)}
            self.tx.run("add_run_source", source)


def pass_gate(
    gates: Gates,
    new: NewRun,
    now: datetime,
    cancelled: list[str] | None,
    cancel: Cancel,
) -> str | None:
    """The run ``new`` joins (debounce, batch) or yields to (singleton "skip"); None if
    ``new`` is to be inserted, in which case the gate now points at it. ``cancel``
    cancels a run in the transaction (runs.cancel_in), for singleton "cancel"."""
    gate = new.gate
    assert gate is not None
    held = gates.held(new, gate)
    if held == new.id:
        return None
    run = gates.run(held, now)
    found: str | None = None
    if run is None:
        pass
    elif gate.kind != "singleton":
        # A full batch is closed by its count, not only by its due time: ``now`` is read
        # before this transaction waited for the gate's lock, so it may be earlier than
        # the "due now" another process gave the batch when it filled it.
        full = gate.max_size is not None and run.coalesced >= gate.max_size
        joins = run.open(now) and not full
        found = _join(gates, new, gate, held, run, now) if joins else None
    elif gate.cancel:
        if cancel(gates.db, gates.tx, held, now):
            run.status = "CANCELLED"
            if cancelled is not None:
                cancelled.append(held)
    elif run.status in ACTIVE:
        found = held
        if new.parent_run_id is not None:  # a parent waiting on this trigger waits on it
            gates.tx.run("adopt_parent", {"id": held, "parent_run_id": new.parent_run_id})
    if found is None:
        gates.point(new, gate)
    return found


def _join(gates: Gates, new: NewRun, gate: Gate, held: str, run: _Run, now: datetime) -> str:
    count = run.coalesced + 1
    if gate.kind == "batch" or gate.keep == "all":
        # a JSON list, oldest first: append without parsing the items gathered so far
        run.payload = f"{run.payload[:-1]},{gate.item}]"
    elif gate.keep == "last":
        run.payload = gate.item
    due = run.run_at
    if gate.period is not None:
        due = now + gate.period
    if gate.max_wait is not None:
        due = min(due, run.created_at + gate.max_wait)
    full = gate.max_size is not None and count >= gate.max_size
    if full:
        due = now
    run.run_at, run.coalesced = due, count
    db, tx = gates.db, gates.tx
    params = {
        "id": held,
        "payload": run.payload,
        "run_at": db.ts(due),
        "coalesced": count,
        "parent_run_id": new.parent_run_id,
    }
    tx.run("join_run", params)
    tx.run(
        "add_run_source", {"run_id": held, "seq": count, "source_id": gate.source, "at": db.ts(now)}
    )
    if full:
        tx.run("wake_workers")
    return held
