"""The note source (Notion) behind a small interface, and a local fake of it.

The real Notion API cannot be reached from here, and a real app's tests would not reach
it either: :class:`NotesSource` is the one call the sync needs (pages edited after a
cursor, a page at a time) and :class:`FakeNotion` answers it from memory, with the same
cursor semantics, a request log to check the rate limit against, and per-workspace
failure switches to play a revoked token or an outage.
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


class SourceError(Exception):
    """The source refused or failed a request."""


class SourceUnauthorized(SourceError):
    """The token was revoked: no retry helps until the user reconnects."""


class SourceUnavailable(SourceError):
    """A transient failure (5xx, timeout): worth retrying later."""


@dataclass(frozen=True)
class SourcePage:
    id: str
    title: str
    text: str
    last_edited: datetime


@dataclass(frozen=True)
class ChangeBatch:
    pages: list[SourcePage]
    next_cursor: str | None
    """Where the next request continues; after the last batch, where the next sync starts."""
    has_more: bool


class NotesSource(Protocol):
    def changes_since(
        self, token: str, cursor: str | None, *, now: datetime, page_size: int = 50
    ) -> ChangeBatch:
        """Pages edited after ``cursor`` (all pages when None), oldest edit first."""
        ...


def _encode(page: SourcePage) -> str:
    raw = json.dumps([page.last_edited.isoformat(), page.id]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode(cursor: str) -> tuple[datetime, str]:
    try:
        edited, page_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return datetime.fromisoformat(edited), str(page_id)
    except (ValueError, TypeError) as exc:
        raise SourceError(f"invalid cursor {cursor!r}") from exc


@dataclass
class _Workspace:
    pages: dict[str, SourcePage] = field(default_factory=dict)
    failure: SourceError | None = None
    failures_left: int | None = None


class FakeNotion:
    """An in-memory Notion: workspaces keyed by token, pages with edit times."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._workspaces: dict[str, _Workspace] = {}
        self.requests: list[tuple[datetime, str, str | None]] = []
        """``(time, token, cursor)`` of every request, in order."""

    def put_page(self, token: str, page_id: str, title: str, text: str, edited: datetime) -> None:
        """Create or edit a page (an edit moves it past every earlier cursor)."""
        with self._lock:
            space = self._workspaces.setdefault(token, _Workspace())
            space.pages[page_id] = SourcePage(page_id, title, text, edited)

    def fail(self, token: str, error: SourceError | None, *, times: int | None = None) -> None:
        """Make requests with ``token`` raise ``error``: the next ``times`` of them, or all
        until ``fail(token, None)``."""
        with self._lock:
            space = self._workspaces.setdefault(token, _Workspace())
            space.failure, space.failures_left = error, times

    def changes_since(
        self, token: str, cursor: str | None, *, now: datetime, page_size: int = 50
    ) -> ChangeBatch:
        with self._lock:
            self.requests.append((now, token, cursor))
            space = self._workspaces.get(token)
            if space is None:
                raise SourceUnauthorized("API token is invalid")
            if space.failure is not None:
                error = space.failure
                if space.failures_left is not None:
                    space.failures_left -= 1
                    if space.failures_left <= 0:
                        space.failure, space.failures_left = None, None
                raise error
            after = _decode(cursor) if cursor else None
            ordered = sorted(space.pages.values(), key=lambda p: (p.last_edited, p.id))
            if after is not None:
                ordered = [p for p in ordered if (p.last_edited, p.id) > after]
            batch = ordered[:page_size]
        if not batch:
            return ChangeBatch([], cursor, False)
        return ChangeBatch(batch, _encode(batch[-1]), len(ordered) > page_size)
