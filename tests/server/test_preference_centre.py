"""The preference centre page and its JSON API, and the inbox v2 endpoints (bulk bodies,
counts, tabs, snooze) over HTTP with the recipient's tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from tests.server.harness import wait_until
from tidings import Tidings


async def test_the_page_speaks_the_recipients_language_and_saves_a_channel(
    notify_api: Tidings, notify_url: str
) -> None:
    notify_api.notification_type("security", channels=("in_app", "email"), critical=True)
    link = notify_api.preferences_url("alice")
    assert link.startswith("/preferences?token=")  # no public_url: the path alone
    async with httpx.AsyncClient(base_url=notify_url) as http:
        page = await http.get(link)
        assert page.status_code == 200
        assert '<html lang="vi">' in page.text
        assert "Tùy chọn thông báo" in page.text
        assert page.headers["cache-control"] == "no-store"
        # the critical type is shown locked on, with why
        assert "Luôn bật" in page.text
        assert 'value="security|email"' in page.text
        assert "disabled" in page.text
        token = link.split("token=", 1)[1]
        form = {
            "token": token,
            "shown": ["alert|in_app", "alert|email"],
            "on": ["alert|in_app"],  # email unticked
            "quiet_start": "22:00",
            "quiet_end": "07:00",
            "timezone": "Asia/Ho_Chi_Minh",
            "locale": "en",
        }
        saved = await http.post("/preferences", data=form)
        assert saved.status_code == 303
        after = await http.get(saved.headers["location"])
        assert '<html lang="en">' in after.text
        assert "Saved." in after.text
    assert notify_api.preferences.get("alice", type="alert", channel="email") is False
    assert notify_api.preferences.get("alice", type="alert", channel="in_app") is True
    r = notify_api.recipients.get("alice")
    assert (r.timezone, r.quiet_hours, r.locale) == ("Asia/Ho_Chi_Minh", ("22:00", "07:00"), "en")
    changes = notify_api.preferences.changes("alice")
    assert len(changes) == 4
    assert all(c.actor == "recipient" for c in changes)
    assert all((c.origin or "").startswith("preference centre (127.0.0.1") for c in changes)


async def test_a_bad_token_gets_a_page_offering_nothing(
    notify_api: Tidings, notify_url: str
) -> None:
    token = notify_api.preferences_url("alice").split("token=", 1)[1]
    async with httpx.AsyncClient(base_url=notify_url) as http:
        for bad in (token[:-3] + "xyz", "nonsense", ""):
            page = await http.get("/preferences", params={"token": bad})
            assert page.status_code == 400
            assert "<form" not in page.text
            assert "cannot be used" in page.text
        posted = await http.post("/preferences", data={"token": "x", "shown": "alert|email"})
        assert posted.status_code == 400
        expired = notify_api.links.preferences_token("alice", timedelta(seconds=1))
        notify_api.kernel.clock = _Later(notify_api.kernel.clock, timedelta(minutes=1))
        page = await http.get("/preferences", params={"token": expired})
        assert page.status_code == 400
    assert notify_api.preferences.changes("alice") == []


class _Later:
    def __init__(self, clock: object, by: timedelta) -> None:
        self.clock, self.by = clock, by

    def now(self) -> datetime:
        return self.clock.now() + self.by  # type: ignore[attr-defined,no-any-return]

    def __getattr__(self, name: str) -> object:
        return getattr(self.clock, name)


async def test_the_json_api_with_an_inbox_token(notify_api: Tidings, notify_url: str) -> None:
    token = notify_api.inbox_token("bob")
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=notify_url, headers=auth) as http:
        mine = (await http.get("/api/v1/me/preferences")).json()
        assert mine["recipient_id"] == "bob"
        assert mine["types"] == [
            {"type": "alert", "critical": False, "channels": {"in_app": True, "email": True}}
        ]
        body = {"preferences": [{"type": "alert", "channel": "email", "enabled": False}],
                "quiet_hours": ["23:00", "06:00"]}  # fmt: skip
        changed = (await http.put("/api/v1/me/preferences", json=body)).json()
        assert changed["types"][0]["channels"]["email"] is False
        assert changed["quiet_hours"] == ["23:00", "06:00"]
        bad = await http.put(
            "/api/v1/me/preferences",
            json={"preferences": [{"type": "nope", "channel": "email", "enabled": False}]},
        )
        assert bad.status_code == 422
        assert "nope" in bad.text
        anonymous = await http.get("/api/v1/me/preferences", headers={"Authorization": ""})
        assert anonymous.status_code == 401
    assert len(notify_api.preferences.changes("bob")) == 2


async def test_inbox_v2_endpoints(notify_api: Tidings, notify_url: str, worker: None) -> None:
    for n in range(3):
        notify_api.notify("alert", to="alice", data={"name": f"A{n}"}, channels=["in_app"],
                          tags=["lab"] if n == 0 else None)  # fmt: skip
    notify_api.notify("alert", to="bob", data={"name": "B"}, channels=["in_app"])
    await wait_until(lambda: len(notify_api.inbox.list("alice")) == 3)
    await wait_until(lambda: len(notify_api.inbox.list("bob")) == 1)
    a2, a1, a0 = (i.id for i in notify_api.inbox.list("alice"))
    theirs = notify_api.inbox.list("bob")[0].id
    auth = {"Authorization": f"Bearer {notify_api.inbox_token('alice')}"}
    async with httpx.AsyncClient(base_url=notify_url, headers=auth) as http:
        counts = (await http.get("/api/v1/inbox/counts")).json()
        assert counts == {"unread": 3, "unseen": 3, "archived": 0}
        seen = (await http.post("/api/v1/inbox/seen", json={"ids": [a2, a1, theirs]})).json()
        assert (seen["updated"], seen["not_found"]) == (2, 1)
        assert seen["counts"] == {"unread": 3, "unseen": 1, "archived": 0}
        archived = (await http.post("/api/v1/inbox/archive", json={"ids": [a1]})).json()
        assert archived["counts"]["archived"] == 1
        tab = (await http.get("/api/v1/inbox", params={"status": "archived"})).json()
        assert [i["id"] for i in tab["data"]] == [a1]
        tagged = (await http.get("/api/v1/inbox", params={"tags": "lab"})).json()
        assert [(i["id"], i["tags"]) for i in tagged["data"]] == [(a0, ["lab"])]
        await http.post("/api/v1/inbox/read", json={"ids": [a0]})
        unread = (await http.get("/api/v1/inbox", params={"status": "unread"})).json()
        assert [i["id"] for i in unread["data"]] == [a2]
        until = datetime.now(UTC) + timedelta(hours=1)
        snoozed = await http.post(
            "/api/v1/inbox/snooze", json={"ids": [a2, theirs], "until": until.isoformat()}
        )
        assert (snoozed.json()["updated"], snoozed.json()["not_found"]) == (1, 1)
        listed = (await http.get("/api/v1/inbox")).json()
        assert [i["id"] for i in listed["data"]] == [a0]
        naive = await http.post(
            "/api/v1/inbox/snooze", json={"ids": [a0], "until": "2030-01-01T08:00:00"}
        )
        assert naive.status_code == 422
        assert "timezone" in naive.text
        past = await http.post(
            "/api/v1/inbox/snooze", json={"ids": [a0], "until": "2020-01-01T08:00:00Z"}
        )
        assert past.status_code == 422
        assert "future" in past.text
        empty = await http.post("/api/v1/inbox/archive", json={"ids": []})
        assert empty.status_code == 422
    assert notify_api.inbox.list("bob")[0].seen_at is None  # never someone else's
    assert notify_api.inbox.list("bob")[0].snoozed_until is None
