"""Trigger.dev's wire formats, as its official SDK (v3 and v4) reads and writes them.

Payload packets, durations, run statuses and the run objects ``runs.retrieve`` and
``runs.list`` parse. Only formats live here; the routes are in ``routes_trigger_dev*``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from tidings.records import Run, RunStatus
from tidings.server.errors import ApiError

SDK_VERSION_HEADER = "trigger-version"
"""Every request of the SDK carries its version here (``4.8.3``, ``3.3.17``)."""

_DURATION = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_UNITS = ("weeks", "days", "hours", "minutes", "seconds")


def is_sdk_v3(version: str | None) -> bool:
    """True for requests of the 3.x SDK (whose status names differ a little)."""
    return bool(version) and str(version).startswith("3.")


def decode_packet(data: Any, data_type: str | None, field: str) -> Any:
    """The JSON value an SDK packet carries.

    ``application/super+json`` is SuperJSON's ``{"json", "meta"}``: the value is its
    ``json`` part, as the SDK's own ``parsePacketAsJson`` reads it (dates stay ISO
    strings, sets and maps their array forms); properties SuperJSON marks ``undefined``
    are dropped. ``text/plain`` is the string itself.
    """
    if data is None:
        return None
    kind = (data_type or "application/json").lower()
    if kind == "text/plain":
        return data
    if kind not in ("application/json", "application/super+json"):
        raise ApiError(
            422,
            f"{field}: payloadType {data_type!r} is not supported; send application/json, "
            "application/super+json or text/plain (payloads offloaded to object storage, "
            "application/store, are not)",
            details={"field": field},
        )
    if not isinstance(data, str):
        return data  # already a JSON value (hand-written callers)
    try:
        value = json.loads(data)
    except ValueError as exc:
        raise ApiError(422, f"{field}: not valid JSON for {kind}: {exc}") from None
    if kind == "application/json":
        return value
    if not isinstance(value, dict) or "json" not in value:
        raise ApiError(422, f"{field}: application/super+json needs an object with 'json'")
    return _drop_undefined(value["json"], value.get("meta"))


def _drop_undefined(value: Any, meta: Any) -> Any:
    values = meta.get("values") if isinstance(meta, dict) else None
    if not isinstance(values, dict):
        return value
    for path, kinds in values.items():
        if kinds == ["undefined"] or kinds == "undefined":
            _remove(value, str(path).split("."))
    return value


def _remove(value: Any, path: list[str]) -> None:
    for part in path[:-1]:
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return
    if isinstance(value, dict):
        value.pop(path[-1], None)


def parse_delay(value: Any, field: str, now: datetime) -> datetime | None:
    """``delay``: a duration (``"30s"``, ``"1h30m"``, ``"2d"``, ``"1w"``) or a time."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        seconds = duration_seconds(text)
        if seconds is not None:
            return now + timedelta(seconds=seconds)
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            when = None
        if when is not None:
            return when if when.tzinfo else when.replace(tzinfo=UTC)
    raise ApiError(
        422,
        f"{field}: {value!r} is neither a duration like '30s', '15m', '2h', '1d', '1w' "
        "nor an ISO 8601 time",
        details={"field": field},
    )


def duration_seconds(text: str) -> int | None:
    """Seconds in a Trigger.dev duration (``"1h30m"``), or None if it is not one."""
    match = _DURATION.match(text)
    if not text or match is None:
        return None
    parts = dict(zip(_UNITS, (int(g or 0) for g in match.groups()), strict=True))
    return int(timedelta(**parts).total_seconds())


def sdk_status(run: Run, now: datetime, v3: bool) -> str:
    """The SDK's name for the run's status (``DELAYED`` for a delay not yet due)."""
    if run.status is RunStatus.QUEUED:
        delayed = run.started_at is None and run.run_at is not None and run.run_at > now
        return "DELAYED" if delayed else "QUEUED"
    return {
        RunStatus.RUNNING: "EXECUTING",
        RunStatus.WAITING: "FROZEN" if v3 else "WAITING",
        RunStatus.COMPLETED: "COMPLETED",
        RunStatus.FAILED: "FAILED",
        RunStatus.CANCELLED: "CANCELED",
    }[run.status]


# The SDK's statuses a ``filter[status]`` may name, as tidings statuses.
STATUS_FILTER: dict[str, tuple[RunStatus, ...]] = {
    "PENDING_VERSION": (RunStatus.QUEUED,),
    "WAITING_FOR_DEPLOY": (RunStatus.QUEUED,),
    "QUEUED": (RunStatus.QUEUED,),
    "DEQUEUED": (RunStatus.QUEUED,),
    "DELAYED": (RunStatus.QUEUED,),
    "EXECUTING": (RunStatus.RUNNING,),
    "REATTEMPTING": (RunStatus.QUEUED,),
    "WAITING": (RunStatus.WAITING,),
    "FROZEN": (RunStatus.WAITING,),
    "COMPLETED": (RunStatus.COMPLETED,),
    "CANCELED": (RunStatus.CANCELLED,),
    "FAILED": (RunStatus.FAILED,),
    "CRASHED": (RunStatus.FAILED,),
    "INTERRUPTED": (RunStatus.FAILED,),
    "SYSTEM_FAILURE": (RunStatus.FAILED,),
    "EXPIRED": (),
    "TIMED_OUT": (),
}


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def run_fields(run: Run, now: datetime, v3: bool) -> dict[str, Any]:
    """The fields every run object of the SDK has (``CommonRunFields``)."""
    status = sdk_status(run, now, v3)
    finished = run.finished_at
    duration = 0
    if run.started_at is not None and finished is not None:
        duration = max(0, int((finished - run.started_at).total_seconds() * 1000))
    fields: dict[str, Any] = {
        "id": run.id,
        "status": status,
        "taskIdentifier": run.task_id,
        "idempotencyKey": run.idempotency_key,
        "isQueued": status in ("QUEUED", "DELAYED"),
        "isExecuting": run.status is RunStatus.RUNNING,
        "isWaiting": run.status is RunStatus.WAITING,
        "isCompleted": run.status.finished,
        "isSuccess": run.status is RunStatus.COMPLETED,
        "isFailed": run.status is RunStatus.FAILED,
        "isCancelled": run.status is RunStatus.CANCELLED,
        "isTest": False,
        "createdAt": _iso(run.created_at),
        "updatedAt": _iso(finished or run.started_at or run.created_at),
        "startedAt": _iso(run.started_at),
        "finishedAt": _iso(finished),
        "delayedUntil": _iso(run.run_at) if status == "DELAYED" else None,
        "tags": list(run.tags),
        "costInCents": 0,
        "baseCostInCents": 0,
        "durationMs": duration,
    }
    return {k: v for k, v in fields.items() if v is not None}


def retrieved_run(run: Run, now: datetime, v3: bool) -> dict[str, Any]:
    """``runs.retrieve``'s object: the common fields, payload, output and error."""
    body = run_fields(run, now, v3)
    body.update(
        depth=0,
        triggerFunction="trigger",
        payload=run.payload,
        relatedRuns={},
        attempts=[],
        attemptCount=run.attempt if run.started_at is not None else 0,
    )
    if run.status is RunStatus.COMPLETED:
        body["output"] = run.result
    if run.error is not None:
        body["error"] = {
            "message": run.error.message,
            "name": run.error.type,
            "stackTrace": run.error.traceback or None,
        }
        body["error"] = {k: v for k, v in body["error"].items() if v is not None}
    return body
