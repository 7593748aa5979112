"""JSON at the boundaries: payloads, step results and run results."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from tidings.errors import NotSerializableError
from tidings.limits import check_json


def _default(value: object) -> object:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(type(value).__name__)


def dumps(value: Any, what: str) -> str:
    """Encode ``value`` as JSON or raise NotSerializableError naming ``what`` and the type.

    Lone surrogates and nesting past ``limits.MAX_JSON_DEPTH`` raise ValidationError."""
    check_json(value, what)
    try:
        return json.dumps(value, default=_default, separators=(",", ":"), allow_nan=False)
    except TypeError as exc:
        raise NotSerializableError(
            f"{what} is not JSON-serialisable: it contains a {exc.args[0]} "
            "(use dicts, lists, str, int, float, bool, None or pydantic models)"
        ) from None
    except ValueError as exc:
        raise NotSerializableError(f"{what} is not JSON-serialisable: {exc}") from None


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def normalize(value: Any, what: str) -> Any:
    """Round-trip through JSON so a first execution sees what a replay will see."""
    return json.loads(dumps(value, what))
