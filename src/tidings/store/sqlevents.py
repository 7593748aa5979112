"""Events in the SQL stores: recording, fan-out, resuming waiters, cancel-on.

Kept apart from sqlstore.py: a mixin whose methods run inside a transaction the store
already holds, through the same named queries.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tidings.matching import key_of
from tidings.store.base import CancelKey, EventWait, NewEvent

if TYPE_CHECKING:
    from tidings.store.sqlstore import Tx

RUN_FINISHED = "tidings/run.finished"
"""Internal event a child run sends its parent when it ends."""


def event_json(event_id: str, name: str, data: Any, ts: datetime) -> str:
    """What a resumed wait returns: the event as JSON."""
    return json.dumps({"id": event_id, "name": name, "data": data, "ts": ts.isoformat()})


class SqlEvents(abc.ABC):
    """Mixed into SqlStore, which supplies the conversions."""

    @abc.abstractmethod
    def _ts(self, value: datetime | None) -> Any: ...

    @abc.abstractmethod
    def _dt(self, value: Any) -> datetime | None: ...

    @abc.abstractmethod
    def _list(self, values: Sequence[str] | None) -> Any: ...

    def _resume_waiters(
        self, tx: Tx, name: str, data: Any, result: str, received: datetime
    ) -> list[str]:
        """Complete every wait the event matches; wake the runs. Index probes only."""
        resumed: list[str] = []
        for row in tx.run("wait_shapes", {"name": name}):
            key = key_of(data, json.loads(row["match_paths"]))
            if key is None:
                continue
            probe = {"name": name, "paths": row["match_paths"], "key": key}
            for wait in tx.run("find_waits", probe):
                since = self._dt(wait["since"])
                if since is not None and since > received:
                    continue  # the wait began after this event
                self._deliver(tx, str(wait["run_id"]), str(wait["step"]), result, received)
                resumed.append(str(wait["run_id"]))
        return resumed

    def _deliver(self, tx: Tx, run_id: str, step: str, result: str, now: datetime) -> None:
        params = {"run_id": run_id, "step": step, "result": result, "now": self._ts(now)}
        tx.run("delete_wait", params)
        tx.run("complete_wait_step", params)
        tx.run("wake_waiting_run", params)
        # remembered for the dashboard's event log: which waits this event resumed
        tx.run("insert_event_resume", {**params, "event_id": json.loads(result)["id"]})

    def _register_waits(
        self, tx: Tx, run_id: str, waits: Sequence[EventWait], now: datetime
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
                "since": self._ts(wait.since),
            }
            tx.run("insert_wait_shape", params)
            tx.run("insert_wait", params)
            paths = json.loads(wait.match_paths)
            for ev in tx.run("recent_events", params):
                data = json.loads(ev["data"])
                if key_of(data, paths) == wait.match_key:
                    if consumed is None:
                        consumed = self._consumed_events(tx, run_id)
                    if str(ev["id"]) in consumed:
                        continue  # it already resumed an earlier wait of this run
                    ts = self._dt(ev["ts"]) or now
                    result = event_json(str(ev["id"]), wait.event_name, data, ts)
                    self._deliver(tx, run_id, wait.step, result, now)
                    satisfied = True
                    break
        names = self._list([w.step for w in waits])
        if not satisfied and tx.run("completed_steps_among", {"run_id": run_id, "names": names}):
            satisfied = True  # completed by an event while the attempt was still running
        if satisfied:
            tx.run("wake_waiting_run", {"run_id": run_id, "now": self._ts(now)})

    def _consumed_events(self, tx: Tx, run_id: str) -> set[str]:
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

    def _record_event(self, tx: Tx, event: NewEvent, now: datetime) -> bool:
        params = {
            "id": event.id,
            "name": event.name,
            "data": event.data,
            "ts": self._ts(event.ts),
            "now": self._ts(now),
        }
        tx.run("insert_event", params)
        return tx.rowcount() == 1

    def _cancel_matching(self, tx: Tx, cancels: Sequence[CancelKey], now: datetime) -> list[str]:
        cancelled: list[str] = []
        for cancel in cancels:
            params = {"event_name": cancel.event_name, "task_id": cancel.task_id, "key": cancel.key}
            for row in tx.run("find_cancel_keys", params):
                if self._cancel_in(tx, str(row["run_id"]), now):
                    cancelled.append(str(row["run_id"]))
        return cancelled

    def _cancel_in(self, tx: Tx, run_id: str, now: datetime) -> bool:
        """Cancel an active run inside ``tx``; tell a waiting parent. False if finished."""
        tx.run("cancel_run", {"id": run_id, "now": self._ts(now)})
        if tx.rowcount() != 1:
            return False
        tx.run("delete_run_waits", {"run_id": run_id})
        tx.run("delete_run_cancel_keys", {"run_id": run_id})
        rows = tx.run("run_parent", {"id": run_id})
        if rows and rows[0]["parent_run_id"]:
            self._child_finished(tx, run_id, "CANCELLED", None, None, now)
        return True

    def _child_finished(
        self, tx: Tx, run_id: str, status: str, result: str | None, error: str | None, now: datetime
    ) -> None:
        """Send the internal run-finished event a parent's trigger_and_wait waits for."""
        data = {
            "run_id": run_id,
            "status": status,
            "result": None if result is None else json.loads(result),
            "error": None if error is None else json.loads(error),
        }
        encoded = json.dumps(data)
        event = NewEvent(f"run-finished:{run_id}", RUN_FINISHED, encoded, now)
        if self._record_event(tx, event, now):
            self._resume_waiters(
                tx, RUN_FINISHED, data, event_json(event.id, RUN_FINISHED, data, now), now
            )
