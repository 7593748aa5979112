"""Opaque page cursors of the run lists: the (created_at, id) of a page's last run."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from tidings.limits import check_name, check_timestamp
from tidings.server.errors import ApiError


def encode_cursor(created_at: datetime, run_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), run_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        when, run_id = json.loads(raw)
        at = datetime.fromisoformat(when)
        if at.tzinfo is None or not isinstance(run_id, str):
            raise ValueError(cursor)
        return check_timestamp(at, "cursor"), check_name(run_id, "cursor")
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ApiError(
            422, "cursor is not one this API returned", details={"field": "cursor"}
        ) from None
