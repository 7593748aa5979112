"""POST /bulk-actions (cancel or replay by filter), GET /bulk-actions[/{id}], and
POST /runs/{id}/replay with from_step and payload (issue 18)."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.server.harness import client, new_key
from tidings import RunStatus, Tidings
from tidings.testing import TestEngine


async def test_bulk_cancel_by_filter_and_its_progress(api_app: Tidings, base_url: str) -> None:
    key = new_key(api_app)
    async with TestEngine(api_app) as t:
        slow = [(await t.trigger("slow", i, delay=3600, tags=["batch-7"])).id for i in range(4)]
        other = (await t.trigger("slow", 9, delay=3600)).id

        def start() -> Any:
            with client(base_url, key) as c:
                return c.post(
                    "/api/v1/bulk-actions",
                    json={"kind": "cancel", "task": ["slow"], "tags": ["batch-7"], "page_size": 3},
                )

        started = await asyncio.to_thread(start)
        assert started.status_code == 202, started.text
        body = started.json()
        assert (body["kind"], body["total"], body["done"], body["status"]) == (
            "cancel", 4, 0, "running",
        )  # fmt: skip
        assert body["filter"]["tasks"] == ["slow"]
        assert body["filter"]["statuses"] == ["QUEUED", "RUNNING", "WAITING"]
        await t.run_due()

        def follow() -> tuple[Any, Any]:
            with client(base_url, key) as c:
                one = c.get(f"/api/v1/bulk-actions/{body['id']}").json()
                listed = c.get("/api/v1/bulk-actions").json()
            return one, listed

        one, listed = await asyncio.to_thread(follow)
        assert (one["done"], one["changed"], one["progress"], one["status"]) == (
            4, 4, 1.0, "completed",
        )  # fmt: skip
        assert [a["id"] for a in listed["data"]] == [body["id"]]
        for run_id in slow:
            assert (await t.get_run(run_id)).status is RunStatus.CANCELLED
        assert (await t.get_run(other)).status is RunStatus.QUEUED


def test_bulk_replay_matching_nothing_is_a_clear_zero(api_app: Tidings, base_url: str) -> None:
    with client(base_url, new_key(api_app)) as c:
        zero = c.post("/api/v1/bulk-actions", json={"kind": "replay", "status": ["FAILED"]})
    assert zero.status_code == 202
    body = zero.json()
    assert (body["total"], body["done"], body["status"], body["run_id"]) == (
        0, 0, "completed", None,
    )  # fmt: skip


def test_bulk_bad_input_is_a_clear_error_and_changes_nothing(
    api_app: Tidings, base_url: str
) -> None:
    api_app.trigger("slow", 1, delay=3600)
    with client(base_url, new_key(api_app)) as c:
        cases = {
            "kind": c.post("/api/v1/bulk-actions", json={"kind": "delete"}),
            "status": c.post("/api/v1/bulk-actions", json={"kind": "cancel", "status": ["X"]}),
            "finished": c.post(
                "/api/v1/bulk-actions", json={"kind": "cancel", "status": ["COMPLETED"]}
            ),
            "task": c.post("/api/v1/bulk-actions", json={"kind": "cancel", "task": ["slw"]}),
            "range": c.post(
                "/api/v1/bulk-actions",
                json={
                    "kind": "replay",
                    "created_after": "2026-02-01T00:00:00Z",
                    "created_before": "2026-01-01T00:00:00Z",
                },
            ),
            "extra": c.post("/api/v1/bulk-actions", json={"kind": "cancel", "everything": True}),
            "page": c.post("/api/v1/bulk-actions", json={"kind": "cancel", "page_size": 0}),
        }
        missing = c.get("/api/v1/bulk-actions/blk_missing")
        listed = c.get("/api/v1/bulk-actions").json()
    expected = {
        "kind": (422, "kind"),
        "status": (422, "unknown run status 'X'"),
        "finished": (422, "only queued, running or waiting runs can be cancelled"),
        "task": (404, "unknown task 'slw'"),
        "range": (422, "must be before created_before"),
        "extra": (422, "everything"),
        "page": (422, "page_size"),
    }
    for name, (status, message) in expected.items():
        response = cases[name]
        assert response.status_code == status, (name, response.text)
        assert message in response.json()["error"]["message"], (name, response.text)
    assert missing.status_code == 404
    assert "no bulk action with id 'blk_missing'" in missing.json()["error"]["message"]
    assert listed == {"data": []}
    assert [r.status for r in api_app.list_runs()] == [RunStatus.QUEUED]


async def test_replay_from_a_step_over_http(api_app: Tidings, base_url: str) -> None:
    async with TestEngine(api_app) as t:
        done = await t.trigger("welcome", {"userId": "s", "name": "Ann"})
    key = new_key(api_app)

    def calls() -> tuple[Any, Any, Any, Any]:
        with client(base_url, key) as c:
            plain = c.post(f"/api/v1/runs/{done.id}/replay")
            forked = c.post(f"/api/v1/runs/{done.id}/replay", json={"from_step": "greet"})
            moved = c.post(
                f"/api/v1/runs/{done.id}/replay", json={"payload": {"userId": "t", "name": "Bo"}}
            )
            unknown = c.post(f"/api/v1/runs/{done.id}/replay", json={"from_step": "gret"})
        return plain, forked, moved, unknown

    plain, forked, moved, unknown = await asyncio.to_thread(calls)
    assert plain.status_code == forked.status_code == moved.status_code == 201
    assert api_app.get_run(plain.json()["id"]).steps == []
    fork = api_app.get_run(forked.json()["id"])
    assert (fork.replay_of, fork.steps) == (done.id, [])  # nothing came before "greet"
    assert api_app.get_run(moved.json()["id"]).payload == {"userId": "t", "name": "Bo"}
    assert unknown.status_code == 422
    assert "has no step 'gret'" in unknown.json()["error"]["message"]
    assert "'greet'" in unknown.json()["error"]["message"]
