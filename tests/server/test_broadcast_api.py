"""Topics and broadcasts over HTTP: PUT/DELETE/GET /topics/{topic}/subscribers,
POST /notifications to a topic or a list (413 past the list limit), GET /broadcasts/{id}."""

from __future__ import annotations

import httpx

from tests.server.harness import client, new_key, wait_until
from tidings import Tidings
from tidings.settings import DEFAULT_MAX_NOTIFY_LIST


def test_topic_subscribers_over_http(notify_api: Tidings, notify_url: str) -> None:
    key = new_key(notify_api)
    with client(notify_url, key) as c:
        added = c.put("/api/v1/topics/providers:imaging/subscribers",
                      json={"recipients": ["alice", "bob"]})  # fmt: skip
        again = c.put("/api/v1/topics/providers:imaging/subscribers",
                      json={"recipients": ["bob"]})  # fmt: skip
        unknown = c.put("/api/v1/topics/providers:imaging/subscribers",
                        json={"recipients": ["zed", "alice"]})  # fmt: skip
        first = c.get("/api/v1/topics/providers:imaging/subscribers", params={"limit": 1})
        rest = c.get("/api/v1/topics/providers:imaging/subscribers",
                     params={"limit": 1, "cursor": first.json()["cursor"]})  # fmt: skip
        removed = c.request("DELETE", "/api/v1/topics/providers:imaging/subscribers",
                            json={"recipients": ["alice"]})  # fmt: skip
        after = c.get("/api/v1/topics/providers:imaging/subscribers")
        too_long = c.put(f"/api/v1/topics/{'x' * 201}/subscribers", json={"recipients": []})
    assert added.json() == {"topic": "providers:imaging", "subscribers": 2}
    assert again.json() == {"topic": "providers:imaging", "subscribers": 2}
    assert unknown.status_code == 404
    assert "'zed'" in unknown.json()["error"]["message"]
    assert first.json() == {"topic": "providers:imaging", "subscribers": ["alice"],
                            "cursor": "alice"}  # fmt: skip
    assert rest.json() == {"topic": "providers:imaging", "subscribers": ["bob"], "cursor": None}
    assert removed.json() == {"topic": "providers:imaging", "removed": 1}
    assert after.json()["subscribers"] == ["bob"]
    assert too_long.status_code == 422


async def test_notify_a_topic_or_a_list_and_follow_the_broadcast(
    notify_api: Tidings, notify_url: str, worker: None
) -> None:
    key = new_key(notify_api)
    notify_api.topics.subscribe("everyone", ["alice", "bob"])
    async with httpx.AsyncClient(
        base_url=notify_url, headers={"Authorization": f"Bearer {key}"}
    ) as c:
        topic = await c.post("/api/v1/notifications", json={
            "type": "alert", "to": {"topic": "everyone"}, "data": {"name": "An"},
            "channels": ["in_app"]})  # fmt: skip
        listed = await c.post("/api/v1/notifications", json={
            "type": "alert", "to": ["alice", "alice", "bob"], "data": {"name": "An"},
            "channels": ["in_app"], "dedup_key": "week-1"})  # fmt: skip
        repeat = await c.post("/api/v1/notifications", json={
            "type": "alert", "to": ["alice", "bob"], "data": {"name": "An"},
            "channels": ["in_app"], "dedup_key": "week-1"})  # fmt: skip
        crowd = [f"u{i}" for i in range(DEFAULT_MAX_NOTIFY_LIST + 1)]
        too_many = await c.post("/api/v1/notifications", json={"type": "alert", "to": crowd})
        unknown = await c.post("/api/v1/notifications",
                               json={"type": "alert", "to": ["alice", "zed"]})  # fmt: skip
        bid = topic.json()["broadcast_id"]
        await wait_until(lambda: notify_api.broadcasts.get(bid).finished)
        progress = (await c.get(f"/api/v1/broadcasts/{bid}")).json()
        missing = await c.get("/api/v1/broadcasts/bct_nope")
    assert topic.status_code == 202
    assert topic.json()["run_id"] != bid
    assert listed.status_code == 202
    assert (repeat.status_code, repeat.json()["broadcast_id"]) == (
        200,
        listed.json()["broadcast_id"],
    )
    assert too_many.status_code == 413
    assert "topic" in too_many.json()["error"]["message"]
    assert unknown.status_code == 404
    assert (progress["total"], progress["routed"]) == (2, 2)
    assert progress["counts"] == {"in_app": {"delivered": 2}}
    assert missing.status_code == 404
