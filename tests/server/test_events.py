"""POST /api/v1/events and /e/{key}: every accepted body shape, ids accepted once,
delayed delivery, and an event through the API starting a run on a real worker."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx

from tests.server.harness import client, new_key, wait_until
from tidings import RunStatus, Tidings


def test_trigger_dev_v1_body(api_app: Tidings, base_url: str) -> None:
    key = new_key(api_app, "publish")
    body = {
        "event": {
            "name": "user.registered",
            "payload": {"userId": "u1", "name": "Lan"},
            "id": "evt-td-1",
            "timestamp": "2026-03-01T09:00:00Z",
            "context": {"source": "backend"},
        }
    }
    with client(base_url, key) as c:
        r = c.post("/api/v1/events", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["id"] == "evt-td-1"
    assert out["name"] == "user.registered"
    assert out["payload"] == {"userId": "u1", "name": "Lan"}
    assert out["context"] == {"source": "backend"}
    assert out["timestamp"].startswith("2026-03-01T09:00:00")
    assert out["accepted"] is True
    assert out["deliverAt"] is None
    (run_id,) = out["runIds"]
    run = api_app.get_run(run_id)
    assert run.task_id == "welcome"
    assert run.payload == {"userId": "u1", "name": "Lan"}
    stored = api_app.store.events.get("evt-td-1")
    assert stored is not None
    assert stored[0].ts == datetime(2026, 3, 1, 9, tzinfo=UTC)


def test_bare_name_payload_and_name_data_bodies(api_app: Tidings, base_url: str) -> None:
    key = new_key(api_app, "publish")
    with client(base_url, key) as c:
        bare = c.post(
            "/api/v1/events", json={"name": "user.registered", "payload": {"userId": "a"}}
        )
        data = c.post("/api/v1/events", json={"name": "user.registered", "data": {"userId": "b"}})
        nothing = c.post("/api/v1/events", json={"name": "order.paid", "payload": None})
    assert bare.status_code == data.status_code == nothing.status_code == 200
    payloads = [api_app.get_run(r.json()["runIds"][0]).payload for r in (bare, data)]
    assert payloads == [{"userId": "a"}, {"userId": "b"}]
    assert nothing.json()["runIds"] == []


def test_a_repeated_event_id_is_accepted_once(api_app: Tidings, base_url: str) -> None:
    key = new_key(api_app, "publish")
    body = {"name": "user.registered", "payload": {"userId": "u1"}, "id": "once"}
    with client(base_url, key) as c:
        first = c.post("/api/v1/events", json=body).json()
        again = c.post("/api/v1/events", json=body).json()
        inngest = c.post(f"/e/{key}", json={"name": "user.registered", "data": {}, "id": "once"})
    assert (first["accepted"], again["accepted"]) == (True, False)
    assert first["runIds"] == again["runIds"]
    assert inngest.json() == {"ids": ["once"], "status": 200}
    assert len(api_app.list_runs()) == 1


def test_inngest_one_event_or_an_array(api_app: Tidings, base_url: str) -> None:
    key = new_key(api_app, "publish")
    with httpx.Client(base_url=base_url) as c:
        one = c.post(f"/e/{key}", json={"name": "user.registered", "data": {"userId": "x"}})
        many = c.post(
            f"/api/v1/e/{key}",
            json=[
                {
                    "name": "user.registered",
                    "data": {"userId": "y"},
                    "id": "i-1",
                    "ts": 1772355600000,
                },
                {"name": "order.paid", "data": {"total": 5}, "v": "2024-01-01"},
            ],
        )
    assert one.status_code == 200
    assert one.json()["status"] == 200
    assert len(one.json()["ids"]) == 1
    assert many.json()["ids"][0] == "i-1"
    assert len(many.json()["ids"]) == 2
    stored = api_app.store.events.get("i-1")
    assert stored is not None
    assert stored[0].ts == datetime(2026, 3, 1, 9, tzinfo=UTC)
    assert sorted(r.payload["userId"] for r in api_app.list_runs()) == ["x", "y"]


def test_an_inngest_batch_with_one_bad_event_changes_nothing(
    api_app: Tidings, base_url: str
) -> None:
    key = new_key(api_app, "publish")
    with httpx.Client(base_url=base_url) as c:
        r = c.post(
            f"/e/{key}",
            json=[
                {"name": "user.registered", "data": {}},
                {"name": "tidings/internal", "data": {}},
            ],
        )
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation_error"
    assert "name" in r.json()["error"]["message"]
    assert api_app.list_runs() == []


def test_bad_event_bodies_are_422_and_change_nothing(api_app: Tidings, base_url: str) -> None:
    key = new_key(api_app, "publish")
    bodies: list[object] = [
        {"event": {"payload": {}}},
        {"name": ""},
        {"name": "   "},
        {"name": "tidings/x", "payload": 1},
        {"name": "x", "payload": {}, "surprise": 1},
        [1, 2],
        {"event": {"name": "x"}, "options": {"deliverAfter": -5}},
    ]
    with client(base_url, key) as c:
        for body in bodies:
            r = c.post("/api/v1/events", json=body)
            assert r.status_code == 422, (body, r.text)
            assert set(r.json()["error"]) == {"code", "message", "details"}
        broken = c.post(
            "/api/v1/events", content=b"{not json", headers={"Content-Type": "application/json"}
        )
    assert broken.status_code == 422
    assert api_app.list_runs() == []


def test_deliver_after_and_deliver_at_delay_the_event(api_app: Tidings, base_url: str) -> None:
    key = new_key(api_app, "publish")
    at = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    with client(base_url, key) as c:
        after = c.post(
            "/api/v1/events",
            json={
                "event": {"name": "user.registered", "payload": {}, "id": "later-1"},
                "options": {"deliverAfter": 3600},
            },
        ).json()
        exact = c.post(
            "/api/v1/events",
            json={
                "event": {"name": "user.registered", "payload": {}, "id": "later-2"},
                "options": {"deliverAt": at},
            },
        ).json()
    assert after["runIds"] == []
    assert after["deliverAt"] is not None
    assert after["deliveredAt"] is None
    assert datetime.fromisoformat(exact["deliverAt"]) == datetime.fromisoformat(at)
    kept = api_app.store.events.get_scheduled("later-2")
    assert kept is not None
    assert kept[1] == datetime.fromisoformat(at)
    assert api_app.list_runs() == []


async def test_an_event_posted_over_http_starts_a_run_on_a_worker(
    api_app: Tidings, base_url: str
) -> None:
    key = new_key(api_app, "publish")
    worker = api_app.worker(concurrency=2, poll_interval=0.05)
    running = asyncio.create_task(worker.run())
    try:
        async with httpx.AsyncClient(base_url=base_url) as c:
            r = await c.post(
                "/api/v1/events",
                headers={"Authorization": f"Bearer {key}"},
                json={"event": {"name": "user.registered", "payload": {"userId": "e2e"}}},
            )
        (run_id,) = r.json()["runIds"]
        await wait_until(lambda: api_app.get_run(run_id).status is RunStatus.COMPLETED)
    finally:
        worker.stop()
        await running
    run = api_app.get_run(run_id)
    assert run.result == {"welcomed": "e2e"}
    assert [s.name for s in run.steps] == ["greet"]


async def test_a_delayed_event_is_delivered_by_the_worker(api_app: Tidings, base_url: str) -> None:
    key = new_key(api_app, "publish")
    worker = api_app.worker(concurrency=2, poll_interval=0.05)
    running = asyncio.create_task(worker.run())
    try:
        async with httpx.AsyncClient(base_url=base_url) as c:
            r = await c.post(
                "/api/v1/events",
                headers={"Authorization": f"Bearer {key}"},
                json={
                    "event": {"name": "user.registered", "payload": {"userId": "d"}, "id": "d1"},
                    "options": {"deliverAfter": 0.3},
                },
            )
        assert r.json()["runIds"] == []
        await wait_until(lambda: len(api_app.list_runs(status="COMPLETED")) == 1)
    finally:
        worker.stop()
        await running
    assert api_app.store.events.get_scheduled("d1") is None
    assert api_app.list_runs()[0].payload == {"userId": "d"}
