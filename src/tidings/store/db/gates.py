"""Debounce, batch and singleton in the store (migration 0016).

A trigger of a gated task (``NewRun.gate``) meets the other runs of its key in the
transaction that records it, under the lock of the key's row in ``flow_gates``: so
triggers of one key take turns across processes and hosts, and each lands in exactly
one run. The gate row points at the key's latest run; whether that run still takes
triggers (debounce, batch: queued, never started, not yet due) or still holds the key
(singleton: queued, running or waiting) is read from the run itself, so a run claimed,
finished or deleted needs no bookkeeping on the gate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from tidings.store.db.database import Database, Tx
from tidings.store.runs import Gate, NewRun


def lock_gates(tx: Tx, news: Iterable[NewRun]) -> None:
    """Lock the gates of many triggers in one order (task, key), before any of them is
    handled, so two transactions holding keys in opposite orders cannot deadlock."""
    first: dict[tuple[str, str], str] = {}
    for new in news:
        if new.gate is not None:
            first.setdefault((new.task_id, new.gate.key), new.id)
    if len(first) > 1:
        for (task_id, key), run_id in sorted(first.items()):
            tx.run("lock_gate", {"task_id": task_id, "key": key, "run_id": run_id})


Cancel = Callable[[Database, Tx, str, datetime], bool]


def pass_gate(
    db: Database,
    tx: Tx,
    new: NewRun,
    now: datetime,
    cancelled: list[str] | None,
    cancel: Cancel,
) -> str | None:
    """The run ``new`` joins (debounce, batch) or yields to (singleton "skip"); None if
    ``new`` is to be inserted, in which case the gate now points at it. ``cancel``
    cancels a run in ``tx`` (runs.cancel_in), for singleton "cancel"."""
    gate = new.gate
    assert gate is not None
    where = {"task_id": new.task_id, "key": gate.key}
    held = str(tx.run("lock_gate", {**where, "run_id": new.id})[0]["run_id"])
    if held == new.id:
        return None
    if gate.kind == "singleton":
        if gate.cancel:
            if cancel(db, tx, held, now) and cancelled is not None:
                cancelled.append(held)
            found = None
        else:
            found = _skip(tx, new, held)
    else:
        found = _join(db, tx, new, gate, held, now)
    if found is None:
        tx.run("set_gate", {**where, "run_id": new.id})
    return found


def opened(db: Database, tx: Tx, new: NewRun, now: datetime) -> None:
    """After ``new`` was inserted: a debounced or batched run records its first source."""
    gate = new.gate
    if gate is None or gate.kind == "singleton":
        return
    tx.run("start_sources", {"id": new.id})
    source = {"run_id": new.id, "seq": 1, "source_id": gate.source, "at": db.ts(now)}
    tx.run("add_run_source", source)


def _skip(tx: Tx, new: NewRun, held: str) -> str | None:
    if not tx.run("active_run", {"id": held}):
        return None
    if new.parent_run_id is not None:  # a parent waiting on this trigger waits on that run
        tx.run("adopt_parent", {"id": held, "parent_run_id": new.parent_run_id})
    return held


def _join(db: Database, tx: Tx, new: NewRun, gate: Gate, held: str, now: datetime) -> str | None:
    rows = tx.run("lock_open_run", {"id": held, "now": db.ts(now)})
    if not rows:
        return None
    row = rows[0]
    count = int(row["coalesced"] or 1) + 1
    payload = str(row["payload"])
    if gate.kind == "batch" or gate.keep == "all":
        # a JSON list, oldest first: append without parsing the items gathered so far
        payload = f"{payload[:-1]},{gate.item}]" if payload != "[]" else f"[{gate.item}]"
    elif gate.keep == "last":
        payload = gate.item
    due = db.req_dt(row["run_at"])
    if gate.period is not None:
        due = now + gate.period
    if gate.max_wait is not None:
        due = min(due, db.req_dt(row["created_at"]) + gate.max_wait)
    full = gate.max_size is not None and count >= gate.max_size
    if full:
        due = now
    params = {
        "id": held,
        "payload": payload,
        "run_at": db.ts(due),
        "coalesced": count,
        "parent_run_id": new.parent_run_id,
    }
    tx.run("join_run", params)
    source = {"run_id": held, "seq": count, "source_id": gate.source, "at": db.ts(now)}
    tx.run("add_run_source", source)
    if full:
        tx.run("wake_workers")
    return held
