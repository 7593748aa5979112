"""Trigger.dev's wire format over HTTP, the edges the SDK itself never sends: bad
packets, incomplete batches, unknown filters, and tidings' own bodies kept strict.
(The SDK itself is driven in tests/integration/test_sdk_trigger_dev.py.)"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from tests.server.harness import client, new_key
from tidings import Tidings

SDK = {"trigger-version": "4.8.3"}


def test_packets_are_decoded_and_tidings_bodies_stay_strict(
    api_app: Tidings, base_url: str
) -> None:
    key = new_key(api_app, "publish")
    superjson = json.dumps(
        {
            "json": {"at": "2026-03-01T09:00:00.000Z", "gone": None, "n": [1]},
            "meta": {"values": {"at": ["Date"], "gone": ["undefined"]}},
        }
    )
    with client(base_url, key) as c:
        made = c.post(
            "/api/v1/tasks/welcome/trigger",
            headers=SDK,
            json={"payload": superjson, "options": {"payloadType": "application/super+json"}},
        )
        text = c.post(  # `slow` takes any payload; `welcome` a dict, so not "hi"
            "/api/v1/tasks/slow/trigger",
            json={"payload": "hi", "options": {"payloadType": "text/plain", "newOption": 1}},
        )
        not_a_dict = c.post(
            "/api/v1/tasks/welcome/trigger",
            json={"payload": "hi", "options": {"payloadType": "text/plain"}},
        )
        store = c.post(
            "/api/v1/tasks/welcome/trigger",
            json={"payload": "s3://x", "options": {"payloadType": "application/store"}},
        )
        broken = c.post(
            "/api/v1/tasks/welcome/trigger",
            json={"payload": "{not json", "options": {"payloadType": "application/json"}},
        )
        typo = c.post("/api/v1/tasks/welcome/trigger", json={"payload": {}, "idempotncy_key": "k"})
    assert made.status_code == 201
    assert made.json()["isCached"] is False
    assert made.headers["x-trigger-jwt"]
    assert api_app.get_run(made.json()["id"]).payload == {
        "at": "2026-03-01T09:00:00.000Z",
        "n": [1],
    }
    assert api_app.get_run(text.json()["id"]).payload == "hi"
    assert not_a_dict.status_code == 422
    assert "does not match dict" in not_a_dict.json()["error"]["message"]
    assert store.status_code == 422
    assert "application/store" in store.json()["error"]["message"]
    assert broken.status_code == 422
    assert broken.json()["error"]["message"].startswith("body.payload: not valid JSON")
    assert typo.status_code == 422  # a tidings body with a typo is not read as the SDK's
    assert len(api_app.list_runs()) == 2


def test_batches_start_all_or_nothing(api_app: Tidings, base_url: str) -> None:
    key = new_key(api_app, "publish")
    line = {"task": "welcome", "payload": '{"userId": "u1"}', "options": {}}
    with client(base_url, key) as c:
        batch = c.post("/api/v3/batches", headers=SDK, json={"runCount": 3}).json()
        short = c.post(
            f"/api/v3/batches/{batch['id']}/items",
            content="\n".join(json.dumps({**line, "index": i}) for i in range(2)),
            headers={**SDK, "Content-Type": "application/x-ndjson"},
        )
        repeated = c.post(
            f"/api/v3/batches/{batch['id']}/items",
            content="\n".join(json.dumps({**line, "index": 0}) for _ in range(3)),
        )
        garbage = c.post(f"/api/v3/batches/{batch['id']}/items", content="{]\n")
        unknown = c.post("/api/v3/batches/batch_nope/items", content=json.dumps(line))
        bad_delay = c.post(
            "/api/v1/tasks/batch",
            json={"items": [line, {**line, "options": {"delay": "tomorrow"}}]},
        )
    assert batch["runCount"] == 3
    assert "idempotencyKey" not in batch
    assert short.status_code == 422
    assert "announced 3 items but 2 arrived" in short.json()["error"]["message"]
    assert repeated.status_code == 422
    assert "index 0 is repeated" in repeated.json()["error"]["message"]
    assert garbage.status_code == 422
    assert unknown.status_code == 404
    assert bad_delay.status_code == 422
    assert "body.items[1].options.delay" in bad_delay.json()["error"]["message"]
    assert api_app.list_runs() == []


def test_a_resent_item_stream_starts_nothing_twice(api_app: Tidings, base_url: str) -> None:
    key = new_key(api_app, "publish")
    lines = "\n".join(
        json.dumps({"index": i, "task": "welcome", "payload": f'{{"i": {i}}}', "options": {}})
        for i in range(3)
    )
    with client(base_url, key) as c:
        batch = c.post("/api/v3/batches", json={"runCount": 3}).json()
        first = c.post(f"/api/v3/batches/{batch['id']}/items", content=lines).json()
        again = c.post(f"/api/v3/batches/{batch['id']}/items", content=lines).json()
    assert (first["itemsAccepted"], first["itemsDeduplicated"], first["sealed"]) == (3, 0, True)
    assert (again["itemsAccepted"], again["itemsDeduplicated"]) == (0, 3)
    assert sorted(r.payload["i"] for r in api_app.list_runs()) == [0, 1, 2]


def test_runs_list_and_reschedule_refuse_what_tidings_cannot_do(
    api_app: Tidings, base_url: str
) -> None:
    key = new_key(api_app)
    run = api_app.trigger("slow", run_at=datetime(2030, 1, 1, tzinfo=UTC))
    with client(base_url, key) as c:
        by_batch = c.get("/api/v1/runs", params={"filter[batch]": "batch_1"})
        status = c.get("/api/v1/runs", params={"filter[status]": "SLEEPING"})
        size = c.get("/api/v1/runs", params={"page[size]": "0"})
        delayed = c.get("/api/v1/runs", params={"filter[status]": "DELAYED"}, headers=SDK)
        tidings = c.get("/api/v1/runs")
        moved = c.post(f"/api/v1/runs/{run.id}/reschedule", json={"delay": "2031-01-01T00:00:00Z"})
        vague = c.post(f"/api/v1/runs/{run.id}/reschedule", json={"delay": "later"})
        no_key = c.post("/api/v1/schedules", json={"task": "slow", "cron": "0 3 * * *"})
        bad_cron = c.post(
            "/api/v1/schedules",
            json={"task": "slow", "cron": "every day", "deduplicationKey": "d"},
        )
        missing = c.get("/api/v1/schedules/sch_nope")
    assert by_batch.status_code == 422
    assert "filter[batch]" in by_batch.json()["error"]["message"]
    assert status.status_code == 422
    assert size.status_code == 422
    assert [r["status"] for r in delayed.json()["data"]] == ["DELAYED"]
    assert delayed.json()["pagination"] == {}
    assert tidings.json()["data"][0]["status"] == "QUEUED"  # tidings' own shape
    assert moved.json()["delayedUntil"] == "2031-01-01T00:00:00Z"
    assert vague.status_code == 422
    assert no_key.status_code == 422
    assert "deduplicationKey" in no_key.json()["error"]["message"]
    assert bad_cron.status_code == 422
    assert missing.status_code == 404
    assert api_app.schedules.list() == []
