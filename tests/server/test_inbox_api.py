"""The inbox over HTTP with inbox tokens, and the realtime stream (SSE): live items and
read states, resume with Last-Event-ID, isolation between recipients, token refresh."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx

from tests.server.harness import new_key, wait_until
from tests.server.sse import open_stream
from tidings import Tidings


def _notify(app: Tidings, to: str, name: str) -> None:
    app.notify("alert", to=to, data={"name": name}, channels=["in_app"])


async def _inbox_items(app: Tidings, who: str, n: int) -> list[str]:
    await wait_until(lambda: app.inbox.unread_count(who) + _read(app, who) >= n)
    return [i.id for i in app.inbox.list(who)]


def _read(app: Tidings, who: str) -> int:
    return sum(1 for i in app.inbox.list(who) if i.read)


async def test_inbox_list_count_and_mark_read(
    notify_api: Tidings, notify_url: str, worker: None
) -> None:
    for n in range(3):
        _notify(notify_api, "alice", f"An {n}")
    _notify(notify_api, "bob", "Bình")
    ids = await _inbox_items(notify_api, "alice", 3)
    await _inbox_items(notify_api, "bob", 1)
    token = notify_api.inbox_token("alice")
    async with httpx.AsyncClient(
        base_url=notify_url, headers={"Authorization": f"Bearer {token}"}
    ) as c:
        page = (await c.get("/api/v1/inbox", params={"limit": 2})).json()
        rest = (await c.get("/api/v1/inbox", params={"cursor": page["next_cursor"]})).json()
        count = (await c.get("/api/v1/inbox/unread-count")).json()
        one = (await c.post(f"/api/v1/inbox/{ids[0]}/read")).json()
        unread = (await c.get("/api/v1/inbox", params={"unread_only": True})).json()
        all_read = (await c.post("/api/v1/inbox/read-all")).json()
        missing = await c.post("/api/v1/inbox/ntf_nothing/read")
    assert len(page["data"]) == 2
    assert len(rest["data"]) == 1
    assert rest["next_cursor"] is None
    bodies = sorted(i["body"] for i in page["data"] + rest["data"])
    assert bodies == [f"Kết quả của An {n} đã sẵn sàng." for n in range(3)]  # in Vietnamese
    assert page["unread_count"] == 3
    assert count == {"unread_count": 3}
    assert (one["updated"], one["unread_count"], one["not_found"]) == (1, 2, 0)
    assert ids[0] not in [i["id"] for i in unread["data"]]
    assert (all_read["updated"], all_read["unread_count"]) == (2, 0)
    assert all_read["counts"] == {"unread": 0, "unseen": 0, "archived": 0}
    assert missing.status_code == 404


async def test_one_recipients_token_never_reads_or_changes_anothers_inbox(
    notify_api: Tidings, notify_url: str, worker: None
) -> None:
    _notify(notify_api, "bob", "Bình")
    (bobs,) = await _inbox_items(notify_api, "bob", 1)
    alice = notify_api.inbox_token("alice")
    key = new_key(notify_api)  # an API key is not an inbox token
    async with httpx.AsyncClient(base_url=notify_url) as c:
        h = {"Authorization": f"Bearer {alice}"}
        listed = (await c.get("/api/v1/inbox", headers=h)).json()
        marked = await c.post(f"/api/v1/inbox/{bobs}/read", headers=h)
        read_all = (await c.post("/api/v1/inbox/read-all", headers=h)).json()
        forged = await c.get("/api/v1/inbox", headers={"Authorization": f"Bearer {alice}x"})
        api_key = await c.get("/api/v1/inbox", headers={"Authorization": f"Bearer {key}"})
        nothing = await c.get("/api/v1/inbox")
        query = await c.get("/api/v1/inbox/unread-count", params={"token": alice})
    assert listed["data"] == []
    assert marked.status_code == 404
    assert "Bình" not in marked.text
    assert (read_all["updated"], read_all["unread_count"]) == (0, 0)
    assert notify_api.inbox.unread_count("bob") == 1
    assert [r.status_code for r in (forged, api_key, nothing)] == [401, 401, 401]
    assert query.json() == {"unread_count": 0}


async def test_other_environments_and_expired_tokens_are_refused(
    notify_api: Tidings, notify_url: str
) -> None:
    expired = notify_api.inbox_token("alice", ttl=timedelta(seconds=1))
    other = Tidings(notify_api.database_url, environment="production", secret_key="s" * 32)
    try:
        production = other.inbox_token("alice")
    finally:
        other.close()
    await asyncio.sleep(1.1)
    async with httpx.AsyncClient(base_url=notify_url) as c:
        for token in (expired, production):
            r = await c.get("/api/v1/inbox", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 401
            assert r.json()["error"]["code"] == "unauthorized"


async def test_the_stream_shows_new_items_and_read_states_live(
    notify_api: Tidings, notify_url: str, worker: None
) -> None:
    token = notify_api.inbox_token("alice")
    async with open_stream(notify_url, token) as stream:
        ready = await stream.until("ready")
        assert ready.data["unread_count"] == 0
        _notify(notify_api, "bob", "Bình")  # never on alice's stream
        _notify(notify_api, "alice", "An")
        created = await stream.next()
        assert created.event == "created"
        assert created.data["item"]["body"] == "Kết quả của An đã sẵn sàng."
        assert created.data["unread_count"] == 1
        assert created.id == str(created.data["seq"])
        await asyncio.to_thread(notify_api.inbox.mark_read, "alice", [created.data["item_id"]])
        read = await stream.next()
        assert (read.event, read.data["item_id"]) == ("read", created.data["item_id"])
        assert read.data["unread_count"] == 0
    # bob's notification is a durable run of its own, which may finish after alice's
    await _inbox_items(notify_api, "bob", 1)
    assert notify_api.inbox.unread_count("bob") == 1


async def test_a_reconnect_with_last_event_id_misses_nothing_and_repeats_nothing(
    notify_api: Tidings, notify_url: str, worker: None
) -> None:
    token = notify_api.inbox_token("alice")
    async with open_stream(notify_url, token) as stream:
        await stream.until("ready")
        _notify(notify_api, "alice", "one")
        first = await stream.until("created")
    # disconnected: two items and a read happen meanwhile
    _notify(notify_api, "alice", "two")
    _notify(notify_api, "alice", "three")
    await wait_until(lambda: notify_api.inbox.unread_count("alice") == 3)
    notify_api.inbox.mark_read("alice", [first.data["item_id"]])
    async with open_stream(notify_url, token, last_event_id=first.id) as stream:
        await stream.until("ready")
        got = [await stream.next() for _ in range(3)]
        _notify(notify_api, "alice", "four")
        live = await stream.next()
    seqs = [int(e.id or 0) for e in [*got, live]]
    assert seqs == list(range(int(first.id or 0) + 1, int(first.id or 0) + 5))
    kinds = [e.event for e in got]
    assert sorted(kinds) == ["created", "created", "read"]
    bodies = [e.data["item"]["body"] for e in [*got, live] if e.event == "created"]
    names = [b.split()[3] for b in bodies]
    # "two" and "three" are made by concurrent runs: either may commit first
    assert sorted(names[:2]) == ["three", "two"]
    assert names[2] == "four"


async def test_a_stream_stays_open_when_its_token_is_refreshed(
    notify_api: Tidings, notify_url: str, worker: None
) -> None:
    short = notify_api.inbox_token("alice", ttl=timedelta(seconds=3))
    async with open_stream(notify_url, short) as stream:
        ready = await stream.until("ready")
        expiring = await stream.next()  # under a minute left: it asks at once
        assert expiring.event == "token-expiring"
        fresh = notify_api.inbox_token("alice", ttl=timedelta(hours=1))
        async with httpx.AsyncClient(base_url=notify_url) as c:
            url = f"/api/v1/inbox/stream/{ready.data['stream']}/token"
            refreshed = await c.post(url, headers={"Authorization": f"Bearer {fresh}"})
            bobs = notify_api.inbox_token("bob")
            hijack = await c.post(url, headers={"Authorization": f"Bearer {bobs}"})
        assert refreshed.status_code == 200
        assert hijack.status_code == 404
        await asyncio.sleep(3.5)  # past the first token's expiry
        _notify(notify_api, "alice", "later")
        created = await stream.until("created")
        assert "later" in created.data["item"]["body"]


async def test_a_stream_whose_token_expires_is_closed(notify_api: Tidings, notify_url: str) -> None:
    # whole seconds, and a loaded machine may take one to answer: room for both
    short = notify_api.inbox_token("alice", ttl=timedelta(seconds=6))
    async with open_stream(notify_url, short) as stream:
        await stream.until("ready")
        assert (await stream.next()).event == "token-expiring"
        assert (await stream.next(timeout=12)).event == "token-expired"


async def test_an_event_posted_over_http_reaches_the_inbox_stream(
    notify_api: Tidings, notify_url: str, worker: None
) -> None:
    key = new_key(notify_api, "publish")
    token = notify_api.inbox_token("bob")
    async with open_stream(notify_url, token) as stream:
        await stream.until("ready")
        async with httpx.AsyncClient(base_url=notify_url) as c:
            r = await c.post(
                "/api/v1/events",
                headers={"Authorization": f"Bearer {key}"},
                json={"name": "lab.completed", "payload": {"userId": "bob", "name": "Bình"}},
            )
        assert r.status_code == 200
        created = await stream.until("created")
    assert created.data["item"]["body"] == "Kết quả của Bình đã sẵn sàng."


def test_the_embeddable_inbox_script_is_served(notify_url: str) -> None:
    r = httpx.get(f"{notify_url}/inbox.js")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/javascript")
    for text in ("TidingsInbox", "Thông báo", "Notifications", "EventSource", "last_event_id"):
        assert text in r.text
    assert "innerHTML" not in r.text
