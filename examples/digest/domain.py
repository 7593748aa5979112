"""The note product's own data: users, notes, digests, sequence states, connections.

Tables follow the original job documentation: ``note_digests`` / ``note_digest_items``
/ ``review_states`` for digests, ``email_sequence_states`` / ``email_sends`` for
sequences, plus users, notes and Notion connections. The invariants the docs state are
kept here, in the data layer, where a real app keeps them:

- a user has at most one digest per local day (a unique key, so building is idempotent);
- a sent digest records ``sent_at`` once and its items never change afterwards;
- a sequence state is unique per user and sequence, and each sequence email is claimed
  in ``email_sends`` before it goes out, so even a duplicate runner cannot send it twice.

Every method a task calls takes and returns JSON-friendly values (ISO times), so it can
be a memoized step.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from examples.common.sqldb import Database, Row, from_epoch, to_epoch

from .notion import NotesSource, SourceError, SourceUnauthorized

DIGEST_SIZE = 5
UPGRADE_AFTER = timedelta(days=14)

SCHEMA = """
CREATE TABLE IF NOT EXISTS dg_users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    timezone TEXT NOT NULL,
    digest_hour INTEGER NOT NULL,
    plan TEXT NOT NULL,
    unsubscribed INTEGER NOT NULL DEFAULT 0,
    created_at DOUBLE PRECISION NOT NULL,
    upgraded_at DOUBLE PRECISION
);
CREATE TABLE IF NOT EXISTS dg_notion_connections (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES dg_users (id),
    workspace TEXT NOT NULL,
    token TEXT,
    active INTEGER NOT NULL,
    cursor TEXT,
    last_synced_at DOUBLE PRECISION,
    last_error TEXT
);
CREATE TABLE IF NOT EXISTS dg_notes (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES dg_users (id),
    connection_id TEXT NOT NULL REFERENCES dg_notion_connections (id),
    source_page_id TEXT NOT NULL,
    title TEXT NOT NULL,
    excerpt TEXT NOT NULL,
    edited_at DOUBLE PRECISION NOT NULL,
    UNIQUE (connection_id, source_page_id)
);
CREATE TABLE IF NOT EXISTS dg_review_states (
    user_id TEXT NOT NULL,
    note_id TEXT NOT NULL REFERENCES dg_notes (id),
    times_included INTEGER NOT NULL,
    last_included_at DOUBLE PRECISION,
    PRIMARY KEY (user_id, note_id)
);
CREATE TABLE IF NOT EXISTS dg_note_digests (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES dg_users (id),
    local_date TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    sent_at DOUBLE PRECISION,
    UNIQUE (user_id, local_date)
);
CREATE TABLE IF NOT EXISTS dg_note_digest_items (
    digest_id TEXT NOT NULL REFERENCES dg_note_digests (id),
    position INTEGER NOT NULL,
    note_id TEXT NOT NULL,
    title TEXT NOT NULL,
    excerpt TEXT NOT NULL,
    PRIMARY KEY (digest_id, position)
);
CREATE TABLE IF NOT EXISTS dg_email_sequence_states (
    user_id TEXT NOT NULL REFERENCES dg_users (id),
    sequence TEXT NOT NULL,
    started_at DOUBLE PRECISION NOT NULL,
    next_step INTEGER NOT NULL,
    status TEXT NOT NULL,
    exit_reason TEXT,
    updated_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (user_id, sequence)
);
CREATE TABLE IF NOT EXISTS dg_email_sends (
    user_id TEXT NOT NULL,
    sequence TEXT NOT NULL,
    step TEXT NOT NULL,
    sent_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (user_id, sequence, step)
);
"""


class DomainError(ValueError):
    """Bad input to the note product's backend."""


def _iso(value: float | None) -> str | None:
    when = from_epoch(value)
    return None if when is None else when.isoformat()


def _at(iso: str) -> float:
    return to_epoch(datetime.fromisoformat(iso))


def local_date(now: datetime, timezone: str) -> date:
    return now.astimezone(ZoneInfo(timezone)).date()


class NotesData:
    """The product's tables in its own database, and the sync against a notes source."""

    def __init__(
        self, url: str, source: NotesSource, *, ids: Callable[[str], str] | None = None
    ) -> None:
        self.db = Database(url, SCHEMA)
        self.source = source
        self._new_id = ids or (lambda prefix: f"{prefix}_{uuid.uuid4().hex[:12]}")

    def close(self) -> None:
        self.db.close()

    def transaction(self) -> AbstractContextManager[Database]:
        """Writes inside commit together or not at all."""
        return self.db.transaction()

    # -- users -------------------------------------------------------------------------
    def create_user(
        self,
        *,
        email: str,
        name: str,
        timezone: str,
        digest_hour: int,
        now: datetime,
        user_id: str | None = None,
    ) -> str:
        if not 0 <= digest_hour <= 23:
            raise DomainError(f"digest_hour must be 0-23, got {digest_hour}")
        ZoneInfo(timezone)  # an unknown zone raises here, before anything is written
        uid = user_id or self._new_id("usr")
        if self.db.one("SELECT id FROM dg_users WHERE id = :id", {"id": uid}) is not None:
            raise DomainError(f"user {uid!r} already exists")
        self.db.execute(
            "INSERT INTO dg_users (id, email, name, timezone, digest_hour, plan, created_at)"
            " VALUES (:id, :email, :name, :tz, :hour, 'free', :now)",
            {
                "id": uid,
                "email": email,
                "name": name,
                "tz": timezone,
                "hour": digest_hour,
                "now": to_epoch(now),
            },
        )
        return uid

    def user(self, user_id: str) -> dict[str, Any]:
        row = self.db.one("SELECT * FROM dg_users WHERE id = :id", {"id": user_id})
        if row is None:
            raise DomainError(f"no user {user_id!r}")
        return {
            "id": row["id"],
            "email": row["email"],
            "name": row["name"],
            "timezone": row["timezone"],
            "digestHour": int(row["digest_hour"]),
            "plan": row["plan"],
            "unsubscribed": bool(row["unsubscribed"]),
        }

    def upgrade(self, user_id: str, now: datetime) -> None:
        self.user(user_id)
        self.db.execute(
            "UPDATE dg_users SET plan = 'pro', upgraded_at = :now WHERE id = :id",
            {"id": user_id, "now": to_epoch(now)},
        )

    def unsubscribe(self, user_id: str) -> None:
        self.user(user_id)
        self.db.execute("UPDATE dg_users SET unsubscribed = 1 WHERE id = :id", {"id": user_id})

    # -- digests -----------------------------------------------------------------------
    def build_digests(self, now_iso: str) -> list[str]:
        """Build today's digest (in each user's timezone) for every user who has none yet."""
        now = datetime.fromisoformat(now_iso)
        built = []
        for row in self.db.query("SELECT id, timezone FROM dg_users ORDER BY id"):
            digest = self._build(str(row["id"]), local_date(now, row["timezone"]), now)
            if digest is not None:
                built.append(digest)
        return built

    def build_first_digest(self, user_id: str, now_iso: str) -> str | None:
        """After a sync: the user's very first digest, if they never had one and now can."""
        existing = self.db.one(
            "SELECT COUNT(*) AS n FROM dg_note_digests WHERE user_id = :id", {"id": user_id}
        )
        if existing and existing["n"]:
            return None
        now = datetime.fromisoformat(now_iso)
        return self._build(user_id, local_date(now, self.user(user_id)["timezone"]), now)

    def _build(self, user_id: str, day: date, now: datetime) -> str | None:
        with self.db.transaction() as tx:
            taken = tx.one(
                "SELECT id FROM dg_note_digests WHERE user_id = :u AND local_date = :d",
                {"u": user_id, "d": day.isoformat()},
            )
            if taken is not None:
                return None
            notes = tx.query(
                "SELECT n.id, n.title, n.excerpt FROM dg_notes n LEFT JOIN dg_review_states r"
                " ON r.note_id = n.id AND r.user_id = n.user_id WHERE n.user_id = :u"
                " ORDER BY COALESCE(r.times_included, 0), COALESCE(r.last_included_at, 0),"
                " n.edited_at DESC, n.id LIMIT :limit",
                {"u": user_id, "limit": DIGEST_SIZE},
            )
            if not notes:
                return None
            digest_id = self._new_id("dig")
            tx.execute(
                "INSERT INTO dg_note_digests (id, user_id, local_date, created_at)"
                " VALUES (:id, :u, :d, :now)",
                {"id": digest_id, "u": user_id, "d": day.isoformat(), "now": to_epoch(now)},
            )
            for position, note in enumerate(notes):
                tx.execute(
                    "INSERT INTO dg_note_digest_items (digest_id, position, note_id, title,"
                    " excerpt) VALUES (:d, :p, :n, :t, :e)",
                    {
                        "d": digest_id,
                        "p": position,
                        "n": note["id"],
                        "t": note["title"],
                        "e": note["excerpt"],
                    },
                )
                tx.execute(
                    "INSERT INTO dg_review_states (user_id, note_id, times_included,"
                    " last_included_at) VALUES (:u, :n, 1, :now) ON CONFLICT (user_id, note_id)"
                    " DO UPDATE SET times_included = dg_review_states.times_included + 1,"
                    " last_included_at = :now",
                    {"u": user_id, "n": note["id"], "now": to_epoch(now)},
                )
        return digest_id

    def due_digests(self, now_iso: str) -> list[tuple[str, str]]:
        """``(digest id, user id)`` of today's unsent digests of users whose local
        delivery hour has come."""
        now = datetime.fromisoformat(now_iso)
        rows = self.db.query(
            "SELECT d.id, d.user_id, d.local_date, u.timezone, u.digest_hour"
            " FROM dg_note_digests d"
            " JOIN dg_users u ON u.id = d.user_id WHERE d.sent_at IS NULL ORDER BY d.id"
        )
        due = []
        for row in rows:
            local = now.astimezone(ZoneInfo(row["timezone"]))
            if row["local_date"] == local.date().isoformat() and local.hour >= row["digest_hour"]:
                due.append((str(row["id"]), str(row["user_id"])))
        return due

    def digest(self, digest_id: str) -> dict[str, Any] | None:
        row = self.db.one("SELECT * FROM dg_note_digests WHERE id = :id", {"id": digest_id})
        if row is None:
            return None
        items = self.db.query(
            "SELECT title, excerpt FROM dg_note_digest_items WHERE digest_id = :id"
            " ORDER BY position",
            {"id": digest_id},
        )
        user = self.user(row["user_id"])
        return {
            "id": row["id"],
            "userId": row["user_id"],
            "name": user["name"],
            "localDate": row["local_date"],
            "sentAt": _iso(row["sent_at"]),
            "items": [{"title": i["title"], "excerpt": i["excerpt"]} for i in items],
        }

    def digests_of(self, user_id: str) -> list[dict[str, Any]]:
        rows = self.db.query(
            "SELECT id FROM dg_note_digests WHERE user_id = :u ORDER BY local_date", {"u": user_id}
        )
        return [d for r in rows if (d := self.digest(str(r["id"]))) is not None]

    def mark_digest_sent(self, digest_id: str, now_iso: str) -> str:
        """Record the send once; return the recorded time (the first one, if already sent)."""
        self.db.execute(
            "UPDATE dg_note_digests SET sent_at = :now WHERE id = :id AND sent_at IS NULL",
            {"id": digest_id, "now": _at(now_iso)},
        )
        digest = self.digest(digest_id)
        assert digest is not None
        assert digest["sentAt"] is not None
        return str(digest["sentAt"])

    # -- sequences ---------------------------------------------------------------------
    def start_sequence(self, user_id: str, sequence: str, now: datetime) -> bool:
        """Record the state once; False if this user already has this sequence."""
        return bool(
            self.db.execute(
                "INSERT INTO dg_email_sequence_states (user_id, sequence, started_at, next_step,"
                " status, updated_at) VALUES (:u, :s, :now, 0, 'active', :now)"
                " ON CONFLICT (user_id, sequence) DO NOTHING",
                {"u": user_id, "s": sequence, "now": to_epoch(now)},
            )
        )

    def sequence_state(self, user_id: str, sequence: str) -> dict[str, Any] | None:
        row = self.db.one(
            "SELECT * FROM dg_email_sequence_states WHERE user_id = :u AND sequence = :s",
            {"u": user_id, "s": sequence},
        )
        if row is None:
            return None
        return {
            "userId": row["user_id"],
            "sequence": row["sequence"],
            "startedAt": _iso(row["started_at"]),
            "nextStep": int(row["next_step"]),
            "status": row["status"],
            "exitReason": row["exit_reason"],
        }

    def exit_reason(self, user_id: str, conditions: list[str]) -> dict[str, Any]:
        """``{"exit": the first condition that holds or None, "name": ...}``."""
        user = self.user(user_id)
        holds = {"upgraded": user["plan"] == "pro", "unsubscribed": user["unsubscribed"]}
        reason = next((c for c in conditions if holds.get(c)), None)
        return {"exit": reason, "name": user["name"]}

    def claim_send(self, user_id: str, sequence: str, step: str, now_iso: str) -> bool:
        """Reserve one sequence email; only the first claim for it returns True."""
        return bool(
            self.db.execute(
                "INSERT INTO dg_email_sends (user_id, sequence, step, sent_at)"
                " VALUES (:u, :s, :step, :now) ON CONFLICT (user_id, sequence, step) DO NOTHING",
                {"u": user_id, "s": sequence, "step": step, "now": _at(now_iso)},
            )
        )

    def sends_of(self, user_id: str) -> list[tuple[str, str]]:
        rows = self.db.query(
            "SELECT sequence, step FROM dg_email_sends WHERE user_id = :u ORDER BY sent_at, step",
            {"u": user_id},
        )
        return [(str(r["sequence"]), str(r["step"])) for r in rows]

    def advance_sequence(
        self,
        user_id: str,
        sequence: str,
        next_step: int,
        status: str,
        reason: str | None,
        now_iso: str,
    ) -> None:
        self.db.execute(
            "UPDATE dg_email_sequence_states SET next_step = :n, status = :status,"
            " exit_reason = :reason, updated_at = :now WHERE user_id = :u AND sequence = :s",
            {
                "u": user_id,
                "s": sequence,
                "n": next_step,
                "status": status,
                "reason": reason,
                "now": _at(now_iso),
            },
        )

    def enroll_upgrade_candidates(self, now_iso: str) -> list[str]:
        """Free users past ``UPGRADE_AFTER`` with notes and no upgrade sequence yet:
        record their state (once) and return the newly enrolled."""
        now = datetime.fromisoformat(now_iso)
        candidates = self.db.query(
            "SELECT u.id FROM dg_users u WHERE u.plan = 'free' AND u.unsubscribed = 0"
            " AND u.created_at <= :cutoff"
            " AND EXISTS (SELECT 1 FROM dg_notes n WHERE n.user_id = u.id)"
            " AND NOT EXISTS (SELECT 1 FROM dg_email_sequence_states s"
            "   WHERE s.user_id = u.id AND s.sequence = 'upgrade') ORDER BY u.id",
            {"cutoff": to_epoch(now - UPGRADE_AFTER)},
        )
        return [
            str(r["id"]) for r in candidates if self.start_sequence(str(r["id"]), "upgrade", now)
        ]

    # -- Notion ------------------------------------------------------------------------
    def connect_notion(self, user_id: str, workspace: str, token: str) -> str:
        self.user(user_id)
        cid = self._new_id("con")
        self.db.execute(
            "INSERT INTO dg_notion_connections (id, user_id, workspace, token, active)"
            " VALUES (:id, :u, :w, :t, 1)",
            {"id": cid, "u": user_id, "w": workspace, "t": token},
        )
        return cid

    def active_connections(self) -> list[str]:
        rows = self.db.query(
            "SELECT id FROM dg_notion_connections WHERE active = 1 AND token IS NOT NULL"
            " ORDER BY id"
        )
        return [str(r["id"]) for r in rows]

    def connection(self, connection_id: str) -> dict[str, Any]:
        row = self.db.one(
            "SELECT * FROM dg_notion_connections WHERE id = :id", {"id": connection_id}
        )
        if row is None:
            raise DomainError(f"no Notion connection {connection_id!r}")
        return {
            "id": row["id"],
            "userId": row["user_id"],
            "workspace": row["workspace"],
            "active": bool(row["active"]),
            "cursor": row["cursor"],
            "lastSyncedAt": _iso(row["last_synced_at"]),
            "lastError": row["last_error"],
        }

    def notes_of(self, user_id: str) -> list[dict[str, Any]]:
        rows = self.db.query(
            "SELECT source_page_id, title, excerpt FROM dg_notes WHERE user_id = :u"
            " ORDER BY source_page_id",
            {"u": user_id},
        )
        return [dict(r) for r in rows]

    def sync_connection(self, connection_id: str, now_iso: str) -> dict[str, Any]:
        """Fetch the pages edited since the stored cursor and store them.

        The cursor moves only after every page of this sync is stored, in one
        transaction, so a sync that fails half-way starts again from the same place.
        A revoked token deactivates the connection (the user must reconnect); the
        error is recorded on the connection either way and raised to the caller.
        """
        row = self.db.one(
            "SELECT * FROM dg_notion_connections WHERE id = :id", {"id": connection_id}
        )
        if row is None or not row["active"] or row["token"] is None:
            raise DomainError(f"Notion connection {connection_id!r} is not active")
        now = datetime.fromisoformat(now_iso)
        cursor, pages = row["cursor"], []
        try:
            while True:
                batch = self.source.changes_since(row["token"], cursor, now=now)
                pages.extend(batch.pages)
                cursor = batch.next_cursor
                if not batch.has_more:
                    break
        except SourceError as exc:
            self.db.execute(
                "UPDATE dg_notion_connections SET last_error = :e,"
                " active = CASE WHEN :revoked = 1 THEN 0 ELSE active END WHERE id = :id",
                {
                    "e": f"{type(exc).__name__}: {exc}",
                    "id": connection_id,
                    "revoked": int(isinstance(exc, SourceUnauthorized)),
                },
            )
            raise
        self._store_pages(row, pages, cursor, now)
        return {"userId": row["user_id"], "pages": len(pages), "cursor": cursor}

    def _store_pages(self, conn: Row, pages: list[Any], cursor: str | None, now: datetime) -> None:
        with self.db.transaction() as tx:
            for page in pages:
                tx.execute(
                    "INSERT INTO dg_notes (id, user_id, connection_id, source_page_id, title,"
                    " excerpt, edited_at) VALUES (:id, :u, :c, :p, :t, :e, :at)"
                    " ON CONFLICT (connection_id, source_page_id) DO UPDATE SET title = :t,"
                    " excerpt = :e, edited_at = :at",
                    {
                        "id": self._new_id("note"),
                        "u": conn["user_id"],
                        "c": conn["id"],
                        "p": page.id,
                        "t": page.title,
                        "e": page.text[:280],
                        "at": to_epoch(page.last_edited),
                    },
                )
            tx.execute(
                "UPDATE dg_notion_connections SET cursor = :cursor, last_synced_at = :now,"
                " last_error = NULL WHERE id = :id",
                {"cursor": cursor, "now": to_epoch(now), "id": conn["id"]},
            )
