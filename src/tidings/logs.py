"""Run-scoped logging: which run and step a log line was written in, and JSON lines.

The executor enters a run scope for each attempt and ``ctx.step`` a step scope; both
are context variables, so they follow the code into the threads sync steps run in and
into every ``logging`` call made there, by tidings or by the user's own loggers.
:class:`JsonFormatter` writes one JSON object per line with those fields, for log
shippers (``tidings worker --log-format json`` or ``TIDINGS_LOG_FORMAT=json``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from tidings.errors import ConfigError
from tidings.settings import env_log_format

LogFormat = Literal["text", "json"]
FORMATS: tuple[LogFormat, ...] = ("text", "json")


@dataclass(frozen=True)
class RunScope:
    run_id: str
    task_id: str
    attempt: int


_run: ContextVar[RunScope | None] = ContextVar("tidings_run", default=None)
_step: ContextVar[str | None] = ContextVar("tidings_step", default=None)


@contextmanager
def run_scope(run_id: str, task_id: str, attempt: int) -> Iterator[None]:
    """Log lines written inside carry this run's id, task and attempt."""
    token = _run.set(RunScope(run_id, task_id, attempt))
    try:
        yield
    finally:
        _run.reset(token)


@contextmanager
def step_scope(name: str) -> Iterator[None]:
    """Log lines written inside carry this step's name."""
    token = _step.set(name)
    try:
        yield
    finally:
        _step.reset(token)


def current_run() -> RunScope | None:
    return _run.get()


def current_step() -> str | None:
    return _step.get()


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and inside a run its
    ``run_id``, ``task_id``, ``attempt`` and ``step`` (``null`` between steps)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        scope = _run.get()
        if scope is not None:
            line.update(
                run_id=scope.run_id,
                task_id=scope.task_id,
                attempt=scope.attempt,
                step=_step.get(),
            )
        line.update(_trace_ids())
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def _trace_ids() -> dict[str, str]:
    from tidings import telemetry

    return telemetry.current_ids()


def resolve_format(value: str | None) -> LogFormat:
    """``--log-format``, else ``$TIDINGS_LOG_FORMAT``, else ``text``."""
    raw = (value or env_log_format() or "text").strip().lower()
    for known in FORMATS:
        if raw == known:
            return known
    raise ConfigError(f"log format {raw!r} is not one of: {', '.join(FORMATS)}")


def json_handler() -> logging.Handler:
    """A stderr handler writing :class:`JsonFormatter` lines."""
    import sys

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    return handler


__all__ = [
    "JsonFormatter",
    "LogFormat",
    "RunScope",
    "current_run",
    "current_step",
    "json_handler",
    "resolve_format",
    "run_scope",
    "step_scope",
]
