"""Recipients, push tokens, preferences, POST /notifications and GET /deliveries."""

from __future__ import annotations

import httpx

from tests.server.harness import client, new_key, wait_until
from tidings import Tidings

TOKEN = "ExponentPushToken[abc-123]"


def test_recipients_are_created_updated_read_and_deleted(
    notify_api: Tidings, notify_url: str
) -> None:
    key = new_key(notify_api)
    with client(notify_url, key) as c:
        made = c.put(
            "/api/v1/recipients/carol",
            json={
                "email": "Carol@Example.com",
                "phone": "+84 90 123 4567",
                "locale": "vi",
                "timezone": "Asia/Ho_Chi_Minh",
                "quiet_hours": ["22:00", "07:00"],
                "data": {"plan": "pro"},
            },
        )
        partial = c.put("/api/v1/recipients/carol", json={"locale": "en"})
        got = c.get("/api/v1/recipients/carol")
        bad = c.put("/api/v1/recipients/carol", json={"phone": "not a phone"})
        kept = c.get("/api/v1/recipients/carol").json()
        unknown = c.get("/api/v1/recipients/nobody")
        gone = c.delete("/api/v1/recipients/carol")
        after = c.get("/api/v1/recipients/carol")
        gone_again = c.delete("/api/v1/recipients/carol")
    assert made.status_code == 200, made.text
    assert made.json()["phone"] == "+84901234567"
    assert made.json()["quiet_hours"] == ["22:00", "07:00"]
    assert partial.json()["locale"] == "en"
    assert got.json()["email"] == made.json()["email"]  # kept: not in the update
    assert got.json()["data"] == {"plan": "pro"}
    assert bad.status_code == 422
    assert "phone" in bad.json()["error"]["message"]
    assert kept["phone"] == "+84901234567"  # the bad update changed nothing
    assert unknown.status_code == 404
    assert (gone.status_code, after.status_code, gone_again.status_code) == (204, 404, 404)


def test_push_tokens_and_preferences(notify_api: Tidings, notify_url: str) -> None:
    key = new_key(notify_api)
    with client(notify_url, key) as c:
        added = c.post(
            "/api/v1/recipients/alice/push-tokens",
            json={"token": TOKEN, "platform": "ios", "device_name": "An's iPhone"},
        )
        listed = c.get("/api/v1/recipients/alice/push-tokens").json()
        off = c.post("/api/v1/push-tokens/deactivate", json={"token": TOKEN}).json()
        active = c.get("/api/v1/recipients/alice/push-tokens").json()
        every = c.get("/api/v1/recipients/alice/push-tokens", params={"active_only": False})
        missing = c.post("/api/v1/recipients/nobody/push-tokens", json={"token": TOKEN})
        prefs = c.put(
            "/api/v1/recipients/alice/preferences",
            json={"type": "alert", "channel": "email", "enabled": False},
        )
        everything = c.put(
            "/api/v1/recipients/alice/preferences",
            json={"type": None, "channel": "sms", "enabled": False},
        )
        bad_channel = c.put(
            "/api/v1/recipients/alice/preferences",
            json={"channel": "pigeon", "enabled": False},
        )
    assert added.status_code == 201
    assert added.json()["platform"] == "ios"
    assert [t["token"] for t in listed] == [TOKEN]
    assert off == {"deactivated": True}
    assert active == []
    assert every.json()[0]["active"] is False
    assert missing.status_code == 404
    assert prefs.json() == [{"type": "alert", "channel": "email", "enabled": False}]
    assert {"type": None, "channel": "sms", "enabled": False} in everything.json()
    assert bad_channel.status_code == 422
    assert notify_api.preferences.get("alice", type="alert", channel="email") is False
    # every change is logged with the key that made it and where from
    changes = notify_api.preferences.changes("alice")
    assert [c.actor for c in changes] == ["api key test-admin"] * 2
    assert all(c.origin == "api (127.0.0.1)" for c in changes)


async def test_post_notifications_routes_and_logs_deliveries(
    notify_api: Tidings, notify_url: str, worker: None
) -> None:
    key = new_key(notify_api)
    async with httpx.AsyncClient(
        base_url=notify_url, headers={"Authorization": f"Bearer {key}"}
    ) as c:
        sent = await c.post(
            "/api/v1/notifications",
            json={
                "type": "alert",
                "to": "alice",
                "data": {"name": "An"},
                "dedup_key": "lab-1",
                "tags": ["lab"],
            },
        )
        again = await c.post(
            "/api/v1/notifications",
            json={"type": "alert", "to": "alice", "data": {"name": "An"}, "dedup_key": "lab-1"},
        )
        unknown_type = await c.post("/api/v1/notifications", json={"type": "nope", "to": "alice"})
        unknown_to = await c.post("/api/v1/notifications", json={"type": "alert", "to": "zed"})
        allowed = await c.post(
            "/api/v1/notifications",
            json={"type": "alert", "to": "bob", "data": {"name": "B"}, "channels": ["email"]},
        )
        await wait_until(
            lambda: (
                sorted(d.status for d in notify_api.deliveries.list(to="alice"))
                == ["delivered", "sent"]
            )
        )
        log = (await c.get("/api/v1/deliveries", params={"to": "alice"})).json()
        await wait_until(
            lambda: [d.status for d in notify_api.deliveries.list(to="bob")] == ["sent"]
        )
        email = await c.get("/api/v1/deliveries", params={"to": "alice", "channel": "email"})
        bobs = (await c.get("/api/v1/deliveries", params={"to": "bob"})).json()
        bad = await c.get("/api/v1/deliveries", params={"status": "lost"})
    assert sent.status_code == 202
    assert again.status_code == 200
    assert again.json() == {"run_id": sent.json()["run_id"], "created": False}
    assert unknown_type.status_code == 404
    assert unknown_to.status_code == 404
    assert sorted(d["channel"] for d in log) == ["email", "in_app"]
    (mail,) = email.json()
    # staging is a sandbox: the email went to the outbox, and the log says so
    assert (mail["provider"], mail["sandboxed"], mail["to"]) == ("outbox", True, "alice")
    assert [e.to for e in notify_api.outbox.list(channel="email")] == ["alice@example.com"]
    assert [i.tags for i in notify_api.inbox.list("alice", tags=["lab"])] == [("lab",)]
    assert allowed.status_code == 202
    assert [(d["provider"], d["sandboxed"]) for d in bobs] == [("recording", False)]
    assert bad.status_code == 422


def test_a_publish_key_cannot_manage_recipients_or_read_deliveries(
    notify_api: Tidings, notify_url: str
) -> None:
    key = new_key(notify_api, "publish")
    with client(notify_url, key) as c:
        answers = [
            c.put("/api/v1/recipients/x", json={}),
            c.get("/api/v1/recipients/alice"),
            c.get("/api/v1/deliveries"),
            c.post("/api/v1/notifications", json={"type": "alert", "to": "alice"}),
            c.put(
                "/api/v1/recipients/alice/preferences",
                json={"channel": "email", "enabled": False},
            ),
        ]
    assert [r.status_code for r in answers] == [403] * 5
    assert "alice@example.com" not in "".join(r.text for r in answers)
