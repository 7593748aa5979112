"""Wait tokens and answers: what ``ctx.create_token``, ``ctx.wait_for_token`` and
``ctx.ask`` return."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class WaitToken:
    """A token a run can wait on (``ctx.wait_for_token``) until it is completed.

    ``url`` is its public completion URL: a ``POST`` to it completes the token (the
    signature in it is the credential, no API key needed). Absolute with ``public_url``,
    else the path alone.
    """

    id: str
    url: str
    expires_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "url": self.url, "expires_at": self.expires_at.isoformat()}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> WaitToken:
        return cls(str(d["id"]), str(d["url"]), datetime.fromisoformat(d["expires_at"]))


@dataclass(frozen=True)
class TokenResult:
    """A completed token: the data it was completed with, and when."""

    data: Any
    completed_at: datetime


@dataclass(frozen=True)
class Answer:
    """The first answer to a question (``ctx.ask``): which action, by whom, on which
    channel (``email``, ``sms``, ``push``, ``in_app``, or ``operator``), when, and any
    data sent with it."""

    action: str
    recipient: str
    channel: str
    answered_at: datetime
    data: Any = None

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "recipient": self.recipient,
            "channel": self.channel,
            "answered_at": self.answered_at.isoformat(),
            "data": self.data,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Answer:
        return cls(
            str(d["action"]),
            str(d["recipient"]),
            str(d["channel"]),
            datetime.fromisoformat(d["answered_at"]),
            d.get("data"),
        )
