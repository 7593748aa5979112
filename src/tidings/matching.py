"""Dotted paths into JSON data, and the canonical keys events are matched by."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from tidings.errors import ValidationError

MISSING = object()
"""What ``get_path`` returns for a path the data does not have."""


def get_path(data: Any, path: str) -> Any:
    """``data["a"]["b"]`` for ``"a.b"`` (a list index may be a number); MISSING if absent."""
    current = data
    for part in path.split("."):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return MISSING
    return current


def check_path(path: object, what: str) -> str:
    if not isinstance(path, str) or not path or any(not p for p in path.split(".")):
        raise ValidationError(f"{what} must be a dotted path like 'quote.id', got {path!r}")
    return path


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def shape(paths: Sequence[str]) -> str:
    """The canonical JSON list of the paths a wait matches on."""
    return canonical(list(paths))


def key_of(data: Any, paths: Sequence[str]) -> str | None:
    """The canonical values of ``data`` at ``paths``; None if any is missing."""
    values = []
    for path in paths:
        value = get_path(data, path)
        if value is MISSING:
            return None
        values.append(value)
    return canonical(values)
