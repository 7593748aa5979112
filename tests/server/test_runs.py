"""POST /tasks/{id}/trigger, GET /runs (filters, cursor), GET /runs/{id}, cancel, replay."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from tests.server.harness import client, new_key
from tidings import RunStatus, Tidings
from tidings.testing import TestEngine


def test_trigger_creates_a_run_and_honours_idempotency(api_app: Tidings, base_url: str) -> None:
    key = new_key(api_app, "publish")
    when = datetime.now(UTC) + timedelta(hours=1)
    with client(base_url, key) as c:
        first = c.post(
            "/api/v1/tasks/welcome/trigger",
            json={
                "payload": {"userId": "u9"},
                "idempotency_key": "welcome-u9",
                "tags": ["vip"],
                "priority": 5,
                "run_at": when.isoformat(),
            },
        )
        again = c.post(
            "/api/v1/tasks/welcome/trigger",
            json={"payload": {"userId": "u9"}, "idempotency_key": "welcome-u9"},
        )
        delayed = c.post("/api/v1/tasks/slow/trigger", json={"delay": 30})
    assert first.status_code == 201
    assert first.json()["created"] is True
    assert again.status_code == 200
    assert again.json() == {"id": first.json()["id"], "created": False}
    run = api_app.get_run(first.json()["id"])
    assert (run.payload, run.tags, run.priority) == ({"userId": "u9"}, ("vip",), 5)
    assert run.run_at == when
    slow = api_app.get_run(delayed.json()["id"])
    assert slow.run_at is not None
    assert slow.run_at > slow.created_at + timedelta(seconds=29)


def test_trigger_errors(api_app: Tidings, base_url: str) -> None:
    key = new_key(api_app, "publish")
    with client(base_url, key) as c:
        unknown = c.post("/api/v1/tasks/nope/trigger", json={})
        both = c.post(
            "/api/v1/tasks/slow/trigger", json={"delay": 1, "run_at": "2030-01-01T00:00:00Z"}
        )
        typed = c.post("/api/v1/tasks/slow/trigger", json={"priority": "high"})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "not_found"
    assert "nope" in unknown.json()["error"]["message"]
    assert both.status_code == 422
    assert "delay or run_at" in both.json()["error"]["message"]
    assert typed.status_code == 422
    assert typed.json()["error"]["details"][0]["loc"][-1] == "priority"
    assert api_app.list_runs() == []


def test_list_runs_filters_and_pages_with_a_cursor(api_app: Tidings, base_url: str) -> None:
    ids = [api_app.trigger("slow", None).id for _ in range(5)]
    welcome = api_app.trigger("welcome", {"userId": "w"}).id
    api_app.cancel(ids[0])
    key = new_key(api_app)
    with client(base_url, key) as c:
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            params: dict[str, str | int] = {"limit": 2, "task_id": "slow"}
            if cursor:
                params["cursor"] = cursor
            page = c.get("/api/v1/runs", params=params).json()
            seen += [r["id"] for r in page["data"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
        cancelled = c.get("/api/v1/runs", params={"status": "CANCELLED"}).json()
        queued = c.get(
            "/api/v1/runs", params=[("status", "QUEUED"), ("status", "CANCELLED")]
        ).json()
        bad_cursor = c.get("/api/v1/runs", params={"cursor": "garbage!"})
        bad_status = c.get("/api/v1/runs", params={"status": "SLEEPING"})
        bad_limit = c.get("/api/v1/runs", params={"limit": 0})
    assert seen == list(reversed(ids))
    assert pages == 3
    assert [r["id"] for r in cancelled["data"]] == [ids[0]]
    assert len(queued["data"]) == 6
    assert welcome in [r["id"] for r in queued["data"]]
    assert queued["data"][0]["steps"] is None  # lists leave steps out
    for bad in (bad_cursor, bad_status, bad_limit):
        assert bad.status_code == 422, bad.text


async def test_get_run_with_steps_cancel_and_replay(api_app: Tidings, base_url: str) -> None:
    async with TestEngine(api_app) as t:
        done = await t.trigger("welcome", {"userId": "s", "name": "Sơn"})
        waiting = await t.trigger("slow")
    key = new_key(api_app)

    def calls() -> tuple[dict, dict, int, int, dict, int]:  # type: ignore[type-arg]
        with client(base_url, key) as c:
            got = c.get(f"/api/v1/runs/{done.id}").json()
            cancelled = c.post(f"/api/v1/runs/{waiting.id}/cancel").json()
            again = c.post(f"/api/v1/runs/{waiting.id}/cancel").status_code
            missing = c.get("/api/v1/runs/run_missing").status_code
            replay = c.post(f"/api/v1/runs/{done.id}/replay").json()
            missing_replay = c.post("/api/v1/runs/run_missing/replay").status_code
        return got, cancelled, again, missing, replay, missing_replay

    got, cancelled, again, missing, replay, missing_replay = await asyncio.to_thread(calls)
    assert got["status"] == "COMPLETED"
    assert got["result"] == {"welcomed": "s"}
    assert [(s["name"], s["status"], s["result"]) for s in got["steps"]] == [
        ("greet", "completed", "hi Sơn")
    ]
    assert cancelled["status"] == "CANCELLED"
    assert again == 409
    assert missing == 404
    assert missing_replay == 404
    new = api_app.get_run(replay["id"])
    assert new.replay_of == done.id
    assert new.payload == {"userId": "s", "name": "Sơn"}
    assert api_app.get_run(waiting.id).status is RunStatus.CANCELLED
