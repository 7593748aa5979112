"""Building what ``send_event`` stores: the event, the runs it starts, the keys it cancels."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from tidings import serde
from tidings.errors import ValidationError
from tidings.ids import new_id
from tidings.matching import key_of
from tidings.store.events import NewEvent
from tidings.store.runs import CancelKey, NewRun
from tidings.tasks import TaskDef

DEFAULT_MAX_EVENT_BYTES = 256 * 1024
RESERVED_PREFIX = "tidings/"


def check_event_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(f"event names must be non-empty strings, got {name!r}")
    if len(name) > 200:
        raise ValidationError(f"event name {name[:40]!r}... is longer than 200 characters")
    if name.startswith(RESERVED_PREFIX):
        raise ValidationError(f"event names starting with {RESERVED_PREFIX!r} are tidings' own")
    return name


def build_event(
    tasks: Iterable[TaskDef],
    name: str,
    data: Any,
    *,
    event_id: str | None,
    ts: datetime,
    max_bytes: int,
    new_run: Callable[[TaskDef, Any, str], NewRun],
) -> tuple[NewEvent, list[NewRun], list[CancelKey]]:
    """Validate an event and work out its effects; nothing is stored here.

    Every subscriber's payload is validated first, so a bad event changes nothing.
    ``new_run(task, payload, event_id)`` makes each subscriber's run.
    """
    check_event_name(name)
    if event_id is not None and (not isinstance(event_id, str) or not 0 < len(event_id) <= 255):
        raise ValidationError("event id must be a string of 1 to 255 characters")
    encoded = serde.dumps(data, f"data of event {name!r}")
    if len(encoded.encode()) > max_bytes:
        raise ValidationError(
            f"data of event {name!r} is {len(encoded.encode()):,} bytes, over the limit of "
            f"{max_bytes:,} (Tidings(max_event_bytes=...))"
        )
    value = json.loads(encoded)
    event_id = event_id or new_id("evt")
    subscribers = [t for t in tasks if name in t.on_event]
    runs = [new_run(task, value, event_id) for task in subscribers]
    cancels = [
        CancelKey(name, task.id, key)
        for task in tasks
        for rule in task.cancel_on
        if rule.event == name and (key := key_of(value, rule.event_paths)) is not None
    ]
    event = NewEvent(event_id, name, encoded, ts)
    return event, runs, cancels


def cancel_keys(task: TaskDef, payload_json: str) -> tuple[CancelKey, ...]:
    """The keys under which events cancel a new run of ``task``."""
    if not task.cancel_on:
        return ()
    payload = json.loads(payload_json)
    keys = []
    for rule in task.cancel_on:
        key = key_of(payload, rule.payload_paths)
        if key is not None:
            keys.append(CancelKey(rule.event, task.id, key))
    return tuple(keys)
