"""The example apps' own data layers on both databases: the invariants the tasks rely on."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from examples.digest.domain import NotesData
from examples.digest.notion import FakeNotion, SourceUnauthorized, SourceUnavailable
from examples.medilink.domain import DomainError, SqlDirectory, format_when

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 09:00 in Ho Chi Minh City


@pytest.fixture
def directory(data_url: str) -> Iterator[SqlDirectory]:
    d = SqlDirectory(data_url)
    yield d
    d.close()


@pytest.fixture
def notes(data_url: str) -> Iterator[tuple[NotesData, FakeNotion]]:
    notion = FakeNotion()
    d = NotesData(data_url, notion)
    yield d, notion
    d.close()


def _hospital(d: SqlDirectory, **fields: str | None) -> str:
    user = d.create_user(
        role="hospital",
        name="Lê Thu Hà",
        email="ha@example.vn",
        phone=fields.get("phone"),
        locale="vi",
        timezone="Asia/Ho_Chi_Minh",
        now=T0,
        organization=fields.get("organization"),
        job_title=fields.get("job_title"),
    )
    return user.id


def test_profile_completeness_names_what_is_missing(directory: SqlDirectory) -> None:
    uid = _hospital(directory, phone="+84901234567")
    assert directory.profile(uid) == {
        "name": "Lê Thu Hà",
        "complete": False,
        "missing": ["organization", "job_title"],
    }
    directory.update_profile(uid, T0, organization="Bệnh viện Chợ Rẫy", job_title="Điều phối")
    assert directory.profile(uid)["complete"] is True
    with pytest.raises(DomainError, match="unknown profile fields: email"):
        directory.update_profile(uid, T0, email="x@example.vn")


def test_requests_quotes_and_providers_by_category(directory: SqlDirectory) -> None:
    hospital = _hospital(directory, phone="+84901234567", organization="BV Gia Định")
    providers = [
        directory.create_user(
            role="provider", name=f"P{i}", email=f"p{i}@example.vn", phone=None, locale="en",
            timezone="Asia/Ho_Chi_Minh", now=T0 + timedelta(seconds=i), category=category,
        ).id
        for i, category in enumerate(["imaging", "laboratory", "imaging"])
    ]  # fmt: skip
    assert directory.providers_in_category("imaging") == [providers[0], providers[2]]
    assert directory.has_first_request(hospital) is False
    rid = directory.create_service_request(hospital, "imaging", "MRI", T0)
    assert directory.has_first_request(hospital) is True
    assert directory.service_request(rid) == {
        "id": rid, "title": "MRI", "category": "imaging", "hospitalName": "BV Gia Định",
        "status": "open", "quotes": 0,
    }  # fmt: skip
    quote = directory.create_quote(rid, providers[0], 12_500_000, T0)
    assert quote["hospitalUserId"] == hospital
    assert directory.service_request(rid)["quotes"] == 1  # type: ignore[index]
    directory.respond_to_quote(quote["id"], True, T0)
    assert directory.quote(quote["id"])["responded"] is True  # type: ignore[index]
    with pytest.raises(DomainError, match="already answered"):
        directory.respond_to_quote(quote["id"], False, T0)
    with pytest.raises(DomainError, match="only hospitals"):
        directory.create_service_request(providers[0], "imaging", "x", T0)


def test_appointment_lifecycle_and_local_time(directory: SqlDirectory) -> None:
    uid = _hospital(directory)
    aid = directory.create_appointment(uid, "Khám tim mạch", "BV Tâm Anh", T0 + timedelta(days=2))
    got = directory.appointment(aid)
    assert got is not None
    assert got["when"] == "09:00 thứ Tư, 04/03/2026"
    directory.reschedule_appointment(aid, T0 + timedelta(days=3))
    assert directory.appointment(aid)["startsAt"] == (T0 + timedelta(days=3)).isoformat()  # type: ignore[index]
    directory.cancel_appointment(aid)
    with pytest.raises(DomainError, match="no scheduled appointment"):
        directory.reschedule_appointment(aid, T0)
    assert format_when(T0, "en", "America/Los_Angeles") == "Sunday 1 March 2026, 18:00"


def test_inactive_users_and_reengagement_once_a_week(directory: SqlDirectory) -> None:
    idle = _hospital(directory)
    active = directory.create_user(
        role="hospital", name="B", email="b@example.vn", phone=None, locale="en",
        timezone="Asia/Ho_Chi_Minh", now=T0,
    ).id  # fmt: skip
    directory.touch(active, T0 + timedelta(days=5))
    later = (T0 + timedelta(days=8)).isoformat()
    assert [u["id"] for u in directory.inactive_users(later, 7)] == [idle]
    assert directory.mark_reengaged(idle, later)
    assert directory.inactive_users(later, 7) == []
    directory.touch(active, T0 + timedelta(days=12))
    a_week_on = (T0 + timedelta(days=15)).isoformat()
    assert [u["id"] for u in directory.inactive_users(a_week_on, 7)] == [idle]


def test_fake_notion_cursor_returns_only_pages_edited_since(
    notes: tuple[NotesData, FakeNotion],
) -> None:
    _, notion = notes
    for i in range(5):
        notion.put_page("tok", f"p{i}", f"Page {i}", "text", T0 + timedelta(minutes=i))
    first = notion.changes_since("tok", None, now=T0, page_size=3)
    assert [p.id for p in first.pages] == ["p0", "p1", "p2"]
    assert first.has_more
    rest = notion.changes_since("tok", first.next_cursor, now=T0, page_size=3)
    assert [p.id for p in rest.pages] == ["p3", "p4"]
    assert not rest.has_more
    notion.put_page("tok", "p1", "Page 1 (edited)", "new", T0 + timedelta(hours=1))
    again = notion.changes_since("tok", rest.next_cursor, now=T0)
    assert [p.title for p in again.pages] == ["Page 1 (edited)"]
    empty = notion.changes_since("tok", again.next_cursor, now=T0)
    assert empty.pages == []
    assert empty.next_cursor == again.next_cursor


def test_sync_is_incremental_and_records_failures(notes: tuple[NotesData, FakeNotion]) -> None:
    data, notion = notes
    uid = data.create_user(email="a@example.com", name="A", timezone="UTC", digest_hour=8, now=T0)
    cid = data.connect_notion(uid, "A's workspace", "tok-a")
    for i in range(3):
        notion.put_page("tok-a", f"p{i}", f"Page {i}", f"text {i}", T0)
    assert data.sync_connection(cid, T0.isoformat())["pages"] == 3
    assert data.sync_connection(cid, T0.isoformat())["pages"] == 0
    notion.fail("tok-a", SourceUnavailable("502 Bad Gateway"))
    with pytest.raises(SourceUnavailable):
        data.sync_connection(cid, T0.isoformat())
    assert data.connection(cid)["lastError"] == "SourceUnavailable: 502 Bad Gateway"
    assert data.connection(cid)["active"] is True
    notion.fail("tok-a", SourceUnauthorized("token revoked"))
    with pytest.raises(SourceUnauthorized):
        data.sync_connection(cid, T0.isoformat())
    assert data.connection(cid)["active"] is False
    assert data.active_connections() == []


def test_one_digest_per_local_day_and_sent_once(notes: tuple[NotesData, FakeNotion]) -> None:
    data, notion = notes
    uid = data.create_user(
        email="a@example.com", name="A", timezone="Asia/Ho_Chi_Minh", digest_hour=8, now=T0
    )
    cid = data.connect_notion(uid, "ws", "tok")
    for i in range(7):
        notion.put_page("tok", f"p{i}", f"Page {i}", "x", T0 + timedelta(minutes=i))
    data.sync_connection(cid, T0.isoformat())
    built = data.build_digests(T0.isoformat())
    assert len(built) == 1
    assert data.build_digests((T0 + timedelta(hours=5)).isoformat()) == []  # same local day
    digest = data.digest(built[0])
    assert digest is not None
    assert len(digest["items"]) == 5
    assert digest["localDate"] == "2026-03-02"
    assert data.due_digests(T0.isoformat()) == [(built[0], uid)]  # 09:00 local, hour 8 has come
    first = data.mark_digest_sent(built[0], T0.isoformat())
    assert data.mark_digest_sent(built[0], (T0 + timedelta(hours=1)).isoformat()) == first
    assert data.due_digests(T0.isoformat()) == []
    # the next local day picks the notes that were left out first
    nxt = data.build_digests((T0 + timedelta(days=1)).isoformat())
    titles = [i["title"] for i in data.digest(nxt[0])["items"]]  # type: ignore[index]
    assert titles[:2] == ["Page 1", "Page 0"]


def test_sequence_state_unique_and_sends_claimed_once(
    notes: tuple[NotesData, FakeNotion],
) -> None:
    data, _ = notes
    uid = data.create_user(email="a@example.com", name="A", timezone="UTC", digest_hour=8, now=T0)
    assert data.start_sequence(uid, "welcome", T0) is True
    assert data.start_sequence(uid, "welcome", T0 + timedelta(days=1)) is False
    assert data.sequence_state(uid, "welcome")["startedAt"] == T0.isoformat()  # type: ignore[index]
    assert data.claim_send(uid, "welcome", "welcome", T0.isoformat()) is True
    assert data.claim_send(uid, "welcome", "welcome", T0.isoformat()) is False
    assert data.exit_reason(uid, ["upgraded"])["exit"] is None
    data.upgrade(uid, T0)
    assert data.exit_reason(uid, ["upgraded", "unsubscribed"])["exit"] == "upgraded"
