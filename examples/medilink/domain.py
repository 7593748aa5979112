"""MediLink's own data: users, profiles, appointments, service requests and quotes.

In the real MediLink this lives in the product's database (Convex) and the automation
asks it questions over HTTP (``/api/user-profile?userId=...``). Here the same questions
are a :class:`Directory` protocol: the tasks depend only on it, so a real app replaces
:class:`SqlDirectory` with a client of its own API and keeps every task unchanged.

:class:`SqlDirectory` keeps the example's tables in a database of its own (SQLite file or
a PostgreSQL schema) through its own connection; tidings never reads them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from examples.common.sqldb import Database, Row, from_epoch, to_epoch

Role = Literal["hospital", "provider"]
CATEGORIES = ("imaging", "laboratory", "equipment-maintenance", "staffing", "pharmacy-supply")
PROVIDER_TOPIC = "providers:"


def provider_topic(category: str) -> str:
    """The tidings topic of a category's providers (``providers:imaging``)."""
    return f"{PROVIDER_TOPIC}{category}"


SCHEMA = """
CREATE TABLE IF NOT EXISTS ml_users (
    id TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    phone TEXT,
    locale TEXT NOT NULL,
    timezone TEXT NOT NULL,
    organization TEXT,
    job_title TEXT,
    category TEXT,
    registered_at DOUBLE PRECISION NOT NULL,
    last_active_at DOUBLE PRECISION NOT NULL,
    reengaged_at DOUBLE PRECISION
);
CREATE INDEX IF NOT EXISTS ml_users_category ON ml_users (role, category);
CREATE TABLE IF NOT EXISTS ml_appointments (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES ml_users (id),
    title TEXT NOT NULL,
    location TEXT NOT NULL,
    starts_at DOUBLE PRECISION NOT NULL,
    status TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ml_service_requests (
    id TEXT PRIMARY KEY,
    hospital_user_id TEXT NOT NULL REFERENCES ml_users (id),
    category TEXT NOT NULL,
    title TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS ml_quotes (
    id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL REFERENCES ml_service_requests (id),
    provider_id TEXT NOT NULL REFERENCES ml_users (id),
    amount_vnd BIGINT NOT NULL,
    sent_at DOUBLE PRECISION NOT NULL,
    responded_at DOUBLE PRECISION,
    response TEXT
);
CREATE INDEX IF NOT EXISTS ml_quotes_request ON ml_quotes (request_id);
"""


class DomainError(ValueError):
    """Bad input to the MediLink backend (unknown id, wrong state)."""


@dataclass(frozen=True)
class User:
    id: str
    role: Role
    name: str
    email: str
    phone: str | None
    locale: str
    timezone: str
    organization: str | None
    job_title: str | None
    category: str | None
    registered_at: datetime
    last_active_at: datetime

    @property
    def profile_complete(self) -> bool:
        """A profile is complete once the fields providers and hospitals rely on are set."""
        needed = [self.phone, self.organization]
        needed.append(self.category if self.role == "provider" else self.job_title)
        return all(v for v in needed)


class Directory(Protocol):
    """What the tasks ask the product's backend. Every answer is JSON, so it can be a step."""

    def profile(self, user_id: str) -> dict[str, Any]:
        """``{"name", "complete", "missing": [...]}``."""
        ...

    def has_first_request(self, user_id: str) -> bool: ...

    def appointment(self, appointment_id: str) -> dict[str, Any] | None:
        """``{"id", "userId", "title", "location", "startsAt" (ISO), "when", "status"}``;
        ``when`` is the start as the user reads it (their locale and timezone)."""
        ...

    def quote(self, quote_id: str) -> dict[str, Any] | None:
        """``{"id", "requestId", "requestTitle", "providerName", "hospitalUserId",
        "amountVnd", "responded"}``."""
        ...

    def service_request(self, request_id: str) -> dict[str, Any] | None:
        """``{"id", "title", "category", "hospitalName", "status", "quotes"}``."""
        ...

    def providers_in_category(self, category: str) -> list[str]: ...

    def respond_to_quote(self, quote_id: str, accept: bool, now: datetime) -> dict[str, Any]:
        """Record the hospital's answer to a quote (once)."""
        ...

    def inactive_users(self, now_iso: str, days: int) -> list[dict[str, str]]:
        """``[{"id", "name"}]``: no activity for ``days`` days, not re-engaged in that time."""
        ...

    def mark_reengaged(self, user_id: str, now_iso: str) -> bool: ...


class SqlDirectory:
    """The MediLink backend's data in its own tables; reads for tasks, writes for the app."""

    def __init__(self, url: str, *, ids: Callable[[str], str] | None = None) -> None:
        self.db = Database(url, SCHEMA)
        self._new_id = ids or _new_id

    def close(self) -> None:
        self.db.close()

    def transaction(self) -> AbstractContextManager[Database]:
        """Writes inside commit together or not at all."""
        return self.db.transaction()

    # -- writes (the product's mutations) --------------------------------------------
    def create_user(
        self,
        *,
        role: Role,
        name: str,
        email: str,
        phone: str | None,
        locale: str,
        timezone: str,
        now: datetime,
        category: str | None = None,
        organization: str | None = None,
        job_title: str | None = None,
        user_id: str | None = None,
    ) -> User:
        if role not in ("hospital", "provider"):
            raise DomainError(f"role must be 'hospital' or 'provider', got {role!r}")
        if category is not None and category not in CATEGORIES:
            raise DomainError(f"unknown category {category!r}; use one of {', '.join(CATEGORIES)}")
        uid = user_id or self._new_id("usr")
        if self.db.one("SELECT id FROM ml_users WHERE id = :id", {"id": uid}) is not None:
            raise DomainError(f"user {uid!r} already exists")
        self.db.execute(
            "INSERT INTO ml_users (id, role, name, email, phone, locale, timezone, organization,"
            " job_title, category, registered_at, last_active_at) VALUES (:id, :role, :name,"
            " :email, :phone, :locale, :timezone, :organization, :job_title, :category, :now,"
            " :now)",
            {
                "id": uid,
                "role": role,
                "name": name,
                "email": email,
                "phone": phone,
                "locale": locale,
                "timezone": timezone,
                "organization": organization,
                "job_title": job_title,
                "category": category,
                "now": to_epoch(now),
            },
        )
        return self.user(uid)

    def update_profile(self, user_id: str, now: datetime, **fields: str | None) -> User:
        allowed = {"name", "phone", "organization", "job_title", "category", "locale"}
        if unknown := sorted(set(fields) - allowed):
            raise DomainError(f"unknown profile fields: {', '.join(unknown)}")
        if fields.get("category") not in (None, *CATEGORIES):
            raise DomainError(f"unknown category {fields['category']!r}")
        self.user(user_id)
        with self.db.transaction() as tx:
            for column, value in fields.items():  # column names come from `allowed` above
                tx.execute(
                    f"UPDATE ml_users SET {column} = :value WHERE id = :id",
                    {"value": value, "id": user_id},
                )
            self._touch(tx, user_id, now)
        return self.user(user_id)

    def touch(self, user_id: str, now: datetime) -> None:
        """Record activity (a login, a page view): the inactive-user job looks at it."""
        self._touch(self.db, user_id, now)

    def _touch(self, db: Database, user_id: str, now: datetime) -> None:
        db.execute(
            "UPDATE ml_users SET last_active_at = :now WHERE id = :id AND last_active_at < :now",
            {"now": to_epoch(now), "id": user_id},
        )

    def create_appointment(
        self, user_id: str, title: str, location: str, starts_at: datetime
    ) -> str:
        self.user(user_id)
        aid = self._new_id("apt")
        self.db.execute(
            "INSERT INTO ml_appointments (id, user_id, title, location, starts_at, status)"
            " VALUES (:id, :user_id, :title, :location, :starts_at, 'scheduled')",
            {
                "id": aid,
                "user_id": user_id,
                "title": title,
                "location": location,
                "starts_at": to_epoch(starts_at),
            },
        )
        return aid

    def reschedule_appointment(self, appointment_id: str, starts_at: datetime) -> None:
        changed = self.db.execute(
            "UPDATE ml_appointments SET starts_at = :starts_at"
            " WHERE id = :id AND status = 'scheduled'",
            {"id": appointment_id, "starts_at": to_epoch(starts_at)},
        )
        if not changed:
            raise DomainError(f"no scheduled appointment {appointment_id!r} to reschedule")

    def cancel_appointment(self, appointment_id: str) -> None:
        changed = self.db.execute(
            "UPDATE ml_appointments SET status = 'cancelled'"
            " WHERE id = :id AND status = 'scheduled'",
            {"id": appointment_id},
        )
        if not changed:
            raise DomainError(f"no scheduled appointment {appointment_id!r} to cancel")

    def create_service_request(
        self, hospital_user_id: str, category: str, title: str, now: datetime
    ) -> str:
        user = self.user(hospital_user_id)
        if user.role != "hospital":
            raise DomainError(f"{hospital_user_id} is a {user.role}; only hospitals make requests")
        if category not in CATEGORIES:
            raise DomainError(f"unknown category {category!r}; use one of {', '.join(CATEGORIES)}")
        rid = self._new_id("req")
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO ml_service_requests (id, hospital_user_id, category, title, status,"
                " created_at) VALUES (:id, :uid, :category, :title, 'open', :now)",
                {
                    "id": rid,
                    "uid": hospital_user_id,
                    "category": category,
                    "title": title,
                    "now": to_epoch(now),
                },
            )
            self._touch(tx, hospital_user_id, now)
        return rid

    def create_quote(
        self, request_id: str, provider_id: str, amount_vnd: int, now: datetime
    ) -> dict[str, Any]:
        request = self.service_request(request_id)
        if request is None or request["status"] != "open":
            raise DomainError(f"no open service request {request_id!r} to quote")
        provider = self.user(provider_id)
        if provider.role != "provider":
            raise DomainError(f"{provider_id} is not a provider")
        qid = self._new_id("quo")
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO ml_quotes (id, request_id, provider_id, amount_vnd, sent_at)"
                " VALUES (:id, :request_id, :provider_id, :amount, :now)",
                {
                    "id": qid,
                    "request_id": request_id,
                    "provider_id": provider_id,
                    "amount": amount_vnd,
                    "now": to_epoch(now),
                },
            )
            self._touch(tx, provider_id, now)
        quote = self.quote(qid)
        assert quote is not None
        return quote

    def respond_to_quote(self, quote_id: str, accept: bool, now: datetime) -> dict[str, Any]:
        quote = self.quote(quote_id)
        if quote is None:
            raise DomainError(f"no quote {quote_id!r}")
        if quote["responded"]:
            raise DomainError(f"quote {quote_id!r} was already answered")
        with self.db.transaction() as tx:
            tx.execute(
                "UPDATE ml_quotes SET responded_at = :now, response = :response WHERE id = :id",
                {
                    "now": to_epoch(now),
                    "response": "accepted" if accept else "declined",
                    "id": quote_id,
                },
            )
            self._touch(tx, quote["hospitalUserId"], now)
        return {**quote, "responded": True}

    # -- reads -------------------------------------------------------------------------
    def user(self, user_id: str) -> User:
        row = self.db.one("SELECT * FROM ml_users WHERE id = :id", {"id": user_id})
        if row is None:
            raise DomainError(f"no user {user_id!r}")
        return _user(row)

    def users(self) -> list[User]:
        return [_user(r) for r in self.db.query("SELECT * FROM ml_users ORDER BY registered_at")]

    def profile(self, user_id: str) -> dict[str, Any]:
        user = self.user(user_id)
        fields = {"phone": user.phone, "organization": user.organization}
        if user.role == "provider":
            fields["category"] = user.category
        else:
            fields["job_title"] = user.job_title
        missing = [name for name, value in fields.items() if not value]
        return {"name": user.name, "complete": not missing, "missing": missing}

    def has_first_request(self, user_id: str) -> bool:
        row = self.db.one(
            "SELECT COUNT(*) AS n FROM ml_service_requests WHERE hospital_user_id = :id",
            {"id": user_id},
        )
        return bool(row and row["n"])

    def appointment(self, appointment_id: str) -> dict[str, Any] | None:
        row = self.db.one(
            "SELECT a.*, u.locale, u.timezone FROM ml_appointments a"
            " JOIN ml_users u ON u.id = a.user_id WHERE a.id = :id",
            {"id": appointment_id},
        )
        if row is None:
            return None
        starts = from_epoch(row["starts_at"])
        assert starts is not None
        return {
            "id": row["id"],
            "userId": row["user_id"],
            "title": row["title"],
            "location": row["location"],
            "startsAt": starts.isoformat(),
            "when": format_when(starts, row["locale"], row["timezone"]),
            "status": row["status"],
        }

    def quote(self, quote_id: str) -> dict[str, Any] | None:
        row = self.db.one(
            "SELECT q.id, q.request_id, q.amount_vnd, q.responded_at, r.title AS request_title,"
            " r.hospital_user_id, p.name AS provider_name, p.organization AS provider_org"
            " FROM ml_quotes q JOIN ml_service_requests r ON r.id = q.request_id"
            " JOIN ml_users p ON p.id = q.provider_id WHERE q.id = :id",
            {"id": quote_id},
        )
        if row is None:
            return None
        return {
            "id": row["id"],
            "requestId": row["request_id"],
            "requestTitle": row["request_title"],
            "providerName": row["provider_org"] or row["provider_name"],
            "hospitalUserId": row["hospital_user_id"],
            "amountVnd": int(row["amount_vnd"]),
            "responded": row["responded_at"] is not None,
        }

    def service_request(self, request_id: str) -> dict[str, Any] | None:
        row = self.db.one(
            "SELECT r.*, u.organization, u.name AS hospital_user_name,"
            " (SELECT COUNT(*) FROM ml_quotes q WHERE q.request_id = r.id) AS quotes"
            " FROM ml_service_requests r JOIN ml_users u ON u.id = r.hospital_user_id"
            " WHERE r.id = :id",
            {"id": request_id},
        )
        if row is None:
            return None
        return {
            "id": row["id"],
            "title": row["title"],
            "category": row["category"],
            "hospitalName": row["organization"] or row["hospital_user_name"],
            "status": row["status"],
            "quotes": int(row["quotes"]),
        }

    def providers_in_category(self, category: str) -> list[str]:
        rows = self.db.query(
            "SELECT id FROM ml_users WHERE role = 'provider' AND category = :category"
            " ORDER BY registered_at, id",
            {"category": category},
        )
        return [str(r["id"]) for r in rows]

    def inactive_users(self, now_iso: str, days: int) -> list[dict[str, str]]:
        cutoff = to_epoch(datetime.fromisoformat(now_iso) - timedelta(days=days))
        rows = self.db.query(
            "SELECT id, name FROM ml_users WHERE last_active_at <= :cutoff"
            " AND (reengaged_at IS NULL OR reengaged_at <= :cutoff) ORDER BY id",
            {"cutoff": cutoff},
        )
        return [{"id": str(r["id"]), "name": str(r["name"])} for r in rows]

    def mark_reengaged(self, user_id: str, now_iso: str) -> bool:
        changed = self.db.execute(
            "UPDATE ml_users SET reengaged_at = :now WHERE id = :id",
            {"now": to_epoch(datetime.fromisoformat(now_iso)), "id": user_id},
        )
        return bool(changed)


_WEEKDAYS = {
    "vi": ["thứ Hai", "thứ Ba", "thứ Tư", "thứ Năm", "thứ Sáu", "thứ Bảy", "Chủ nhật"],
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
}
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


def format_when(when: datetime, locale: str, timezone: str) -> str:
    """A date and time as people write it in ``locale``, in the user's own timezone."""
    local = when.astimezone(ZoneInfo(timezone))
    if locale == "vi":
        day = _WEEKDAYS["vi"][local.weekday()]
        return f"{local:%H:%M} {day}, {local:%d/%m/%Y}"
    day = _WEEKDAYS["en"][local.weekday()]
    return f"{day} {local.day} {_MONTHS[local.month - 1]} {local.year}, {local:%H:%M}"


def _user(row: Row) -> User:
    registered, active = from_epoch(row["registered_at"]), from_epoch(row["last_active_at"])
    assert registered is not None
    assert active is not None
    return User(
        id=row["id"],
        role=row["role"],
        name=row["name"],
        email=row["email"],
        phone=row["phone"],
        locale=row["locale"],
        timezone=row["timezone"],
        organization=row["organization"],
        job_title=row["job_title"],
        category=row["category"],
        registered_at=registered,
        last_active_at=active,
    )


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"
