"""What tidings accepts at every door: times in range, valid Unicode, JSON not too deep.

The rule: what tidings accepts it can store, list, render and replay; what it cannot, it
refuses with a :class:`~tidings.errors.ValidationError` naming the field before anything
is written. Every entry point (HTTP, the Python API, the CLI, MCP) funnels through the
checks here:

- :func:`check_timestamp`: aware, and within years 1970 to 9999 once converted to UTC
  (``MIN_TIME``..``MAX_TIME``). Both databases and Python's ``datetime`` can hold every
  such time, in every timezone a reader may convert it to.
- :func:`check_json`: strings (keys included) are valid Unicode (no lone surrogates,
  which neither UTF-8 nor PostgreSQL's ``jsonb`` can hold) and containers nest at most
  ``MAX_JSON_DEPTH`` levels (deeper values hit recursion limits of JSON encoders).

Rows written before these checks existed may still break them; read paths show such
values through :func:`readable`, which never raises.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from tidings.errors import ValidationError

MIN_TIME = datetime(1970, 1, 1, tzinfo=UTC)
"""The earliest time accepted anywhere (run_at, event timestamps, deliver_at...)."""
MAX_TIME = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
"""The latest time accepted anywhere."""
MAX_JSON_DEPTH = 64
"""The deepest nesting of lists and objects accepted in payloads, event and notification
data, recipient data and step results (``{"a": [1]}`` is 2 levels)."""
_SURROGATE = re.compile("[\ud800-\udfff]")
UNREADABLE = "[unreadable: nested too deeply]"
"""What :func:`readable` puts in place of a value nested deeper than the limit."""


def check_timestamp(value: datetime, what: str) -> datetime:
    """``value`` if it is aware and within ``MIN_TIME``..``MAX_TIME``; else ValidationError
    naming ``what``."""
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValidationError(f"{what} must be a timezone-aware datetime, got {value!r}")
    try:
        in_utc = value.astimezone(UTC)
    except (OverflowError, ValueError):
        in_utc = None
    if in_utc is None or not MIN_TIME <= in_utc <= MAX_TIME:
        raise ValidationError(
            f"{what} {value.isoformat()} is out of range: times must fall within years "
            "1970 to 9999 in UTC"
        )
    return value


def check_name(value: str, what: str) -> str:
    """``value`` if it can be a name, id or key kept in a text column: valid Unicode and
    no NUL character (PostgreSQL's text cannot hold one); else ValidationError."""
    check_text(value, what)
    if "\x00" in value:
        raise ValidationError(
            f"{what} contains a NUL character (\\u0000) at character {value.index(chr(0))}; "
            "names, ids and keys cannot"
        )
    return value


def check_text(value: str, what: str) -> str:
    """``value`` if it is valid Unicode (encodable as UTF-8); else ValidationError."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError(
            f"{what} is not valid Unicode: a lone surrogate {value[exc.start]!a} at "
            f"character {exc.start} (send text as UTF-8, or escape pairs in full)"
        ) from None
    return value


def check_json(value: Any, what: str, *, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Raise ValidationError naming ``what`` if any string in ``value`` (keys included) is
    not valid Unicode or its lists and objects nest deeper than ``max_depth``.

    Other types pass: whether they are JSON at all is the encoder's business.
    """
    # Hot path (every payload, event and step result): containers are walked level by
    # level, and a string is only encoded when it is not ASCII (most are).
    level: list[Any] = [value]
    for _ in range(max_depth):  # levels 0 .. max_depth-1 may hold lists and objects
        level = _children(level, what)
        if not level:
            return
    for item in level:  # level max_depth: scalars only
        if isinstance(item, dict | list | tuple):
            raise ValidationError(
                f"{what} nests lists and objects more than {max_depth} levels deep"
            )
        if isinstance(item, str) and not item.isascii():
            check_text(item, what)


def _children(level: list[Any], what: str) -> list[Any]:
    """Check the strings of one level; return the next level's items."""
    below: list[Any] = []
    for item in level:
        if isinstance(item, str):
            if not item.isascii():
                check_text(item, what)
        elif isinstance(item, dict):
            for key in item:
                if isinstance(key, str) and not key.isascii():
                    check_text(key, f"a key in {what}")
            below.extend(item.values())
        elif isinstance(item, list | tuple):
            below.extend(item)
    return below


def readable(value: Any, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``value`` safe to encode and render: lone surrogates replaced with U+FFFD, and
    anything nested deeper than ``max_depth`` replaced with ``UNREADABLE``. Never raises;
    returns ``value`` itself when nothing needed replacing (the common case)."""
    try:
        check_json(value, "value", max_depth=max_depth)
        return value
    except ValidationError:
        return _repair(value, max_depth)


def _repair(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return _SURROGATE.sub("\N{REPLACEMENT CHARACTER}", value)
    if not isinstance(value, dict | list | tuple):
        return value
    if depth <= 0:
        return UNREADABLE
    if isinstance(value, dict):
        return {_repair(k, depth): _repair(v, depth - 1) for k, v in value.items()}
    return [_repair(v, depth - 1) for v in value]


def check_delay_end(now: datetime, delay: timedelta) -> datetime:
    """``now + delay`` if that is a time in range; else ValidationError naming the delay."""
    try:
        end = now + delay
    except OverflowError:
        end = None  # past year 9999
    if end is None or end > MAX_TIME:
        raise ValidationError(f"delay {delay} ends after year 9999; use a shorter delay")
    return end


def check_run_fields(
    idempotency_key: str | None,
    tags: Sequence[str] | None,
    queue: str | None,
    concurrency_key: str | None,
) -> None:
    """The text options of a new run are valid Unicode, and those kept in text columns
    (keys, queue) hold no NUL character (ValidationError names the field)."""
    for what, value in (
        ("idempotency_key", idempotency_key),
        ("queue", queue),
        ("concurrency_key", concurrency_key),
    ):
        if isinstance(value, str):
            check_name(value, what)
    check_json(None if tags is None else list(tags), "tags")


def check_event_fields(name: str, event_id: str | None, ts: datetime | None) -> None:
    """An event's name and id are valid Unicode without NUL, and its ``ts`` (if any) in
    range."""
    if isinstance(name, str):
        check_name(name, "event name")
    if isinstance(event_id, str):
        check_name(event_id, "event id")
    if ts is not None:
        check_timestamp(ts, "event ts")


def readable_text(value: str) -> str:
    """``value`` with any lone surrogates replaced by U+FFFD (a page, a log line)."""
    try:
        return check_text(value, "text")
    except ValidationError:
        return _SURROGATE.sub("\N{REPLACEMENT CHARACTER}", value)
