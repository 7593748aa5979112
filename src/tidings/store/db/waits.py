"""Events inside a transaction the caller holds: recording an event, resuming the waits
it matches, registering an attempt's waits, telling a waiting parent its child ended.

Functions of ``(db, tx, ...)`` shared by the concepts whose writes touch event waits
(runs end attempts and are cancelled, events are sent), so each stays one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from tidings.matching import key_of
from tidings.store.db.database import Database, Tx
from tidings.store.events import RUN_FINISHED, NewEvent
from tidings.store.runs import EventWait


def event_json(event_id: str, name: str, data: Any, ts: datetime) -> str:
    """What a resumed wait returns: the event as JSON."""
    return json.dumps({"id": event_id, "name": name, "data": data, "ts": ts.isoformat()})


def record_event(db: Database, tx: Tx, event: NewEvent, now: datetime) -> bool:
    """Insert the event; False if its id was seen before."""
    params = {
        "id": event.id,
        "name": event.name,
        "data": event.data,
        "ts": db.ts(event.ts),
        "now": db.ts(now),
    }
    tx.run("insert_event", params)
    return tx.rowcount() == 1


def resume_waiters(
    db: Database, tx: Tx, name: str, data: Any, result: str, received: datetime
) -> list[str]:
    """Complete every wait the event matches; wake the runs. Index probes only."""
    resumed: list[str] = []
    for row in tx.run("wait_shapes", {"name": name}):
        key = key_of(data, json.loads(row["match_paths"]))
        if key is None:
            continue
        probe = {"name": name, "paths": row["match_paths"], "key": key}
        for wait in tx.run("find_waits", probe):
            since = db.dt(wait["since"])
            if since is not None and since > received:
                continue  # the wait began after this event
            _deliver(db, tx, str(wait["run_id"]), str(wait["step"]), result, received)
            resumed.append(str(wait["run_id"]))
    return resumed


def _deliver(db: Database, tx: Tx, run_id: str, step: str, result: str, now: datetime) -> None:
    params = {"run_id": run_id, "step": step, "result": result, "now": db.ts(now)}
    tx.run("delete_wait", params)
    tx.run("complete_wait_step", params)
    tx.run("wake_waiting_run", params)
    # remembered for the dashboard's event log: which waits this event resumed
    tx.run("insert_event_resume", {**params, "event_id": json.loads(result)["id"]})


def register_waits(
    db: Database, tx: Tx, run_id: str, waits: Sequence[EventWait], now: datetime
) -> None:
    """Record an attempt's waits; resume at once if a matching event came meanwhile.

    An event sent after the wait began but before this commit found no wait row, so
    the events received since then are checked here (the window is short).
    """
    satisfied = False
    consumed: set[str] | None = None
    for wait in waits:
        params = {
            "run_id": run_id,
            "step": wait.step,
            "name": wait.event_name,
            "paths": wait.match_paths,
            "key": wait.match_key,
            "since": db.ts(wait.since),
        }
        tx.run("insert_wait_shape", params)
        tx.run("insert_wait", params)
        paths = json.loads(wait.match_paths)
        for ev in tx.run("recent_events", params):
            data = json.loads(ev["data"])
            if key_of(data, paths) == wait.match_key:
                if consumed is None:
                    consumed = _consumed_events(tx, run_id)
                if str(ev["id"]) in consumed:
                    continue  # it already resumed an earlier wait of this run
                ts = db.dt(ev["ts"]) or now
                result = event_json(str(ev["id"]), wait.event_name, data, ts)
                _deliver(db, tx, run_id, wait.step, result, now)
                satisfied = True
                break
    names = db.array([w.step for w in waits])
    if not satisfied and tx.run("completed_steps_among", {"run_id": run_id, "names": names}):
        satisfied = True  # completed by an event while the attempt was still running
    if satisfied:
        tx.run("wake_waiting_run", {"run_id": run_id, "now": db.ts(now)})


def _consumed_events(tx: Tx, run_id: str) -> set[str]:
    """Ids of the events that already resumed a wait of this run.

    A run that waits again right after an event resumed it (a loop around
    ``wait_for_event``) starts its new wait at the event's own instant whenever the
    clock has not moved on (always, under TestEngine's virtual clock); the event is
    then "recent" for the new wait too, but one event resumes one wait of a run once.
    """
    ids: set[str] = set()
    for step in tx.run("get_steps", {"run_id": run_id}):
        if step["kind"] == "wait_for_event" and step["status"] == "completed":
            found = json.loads(step["result"]) if step["result"] else None
            if isinstance(found, dict) and "id" in found:
                ids.add(str(found["id"]))
    return ids


def child_finished(
    db: Database,
    tx: Tx,
    run_id: str,
    status: str,
    result: str | None,
    error: str | None,
    now: datetime,
) -> None:
    """Send the internal run-finished event a parent's trigger_and_wait waits for."""
    data = {
        "run_id": run_id,
        "status": status,
        "result": None if result is None else json.loads(result),
        "error": None if error is None else json.loads(error),
    }
    event = NewEvent(f"run-finished:{run_id}", RUN_FINISHED, json.dumps(data), now)
    if record_event(db, tx, event, now):
        found = event_json(event.id, RUN_FINISHED, data, now)
        resume_waiters(db, tx, RUN_FINISHED, data, found, now)
