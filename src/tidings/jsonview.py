"""Runs and schedules as plain JSON values: what ``tidings ... --json`` prints and the
MCP tools return.

It sits below both the CLI and ``tidings.ops`` so that each can use it without the
other (``ops`` never imports the CLI).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from tidings.records import BulkAction, LogEntry, Run, Schedule


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def run_to_json(run: Run, *, steps: bool = True, logs: Sequence[LogEntry] | None = None) -> Any:
    """A run as plain JSON values (times in ISO 8601), as ``--json`` prints it."""
    data = dataclasses.asdict(run)
    if not steps:
        del data["steps"]
    if logs is not None:
        data["logs"] = [dataclasses.asdict(e) for e in logs]
    return json.loads(json.dumps(data, default=_json_default))


def schedule_to_json(schedule: Schedule) -> Any:
    """A schedule as plain JSON values (times in ISO 8601), as ``--json`` prints it."""
    return json.loads(json.dumps(dataclasses.asdict(schedule), default=_json_default))


def bulk_to_json(action: BulkAction) -> Any:
    """A bulk action and its progress as plain JSON values (times in ISO 8601)."""
    data = dataclasses.asdict(action)
    data["progress"] = round(action.progress, 4)
    return json.loads(json.dumps(data, default=_json_default))


__all__ = ["bulk_to_json", "run_to_json", "schedule_to_json"]
