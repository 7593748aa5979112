"""Keys: bearer auth, scopes, environments kept apart, revocation, secrets never shown."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.server.harness import add_tasks, auth, client, new_key, serving
from tidings import Tidings
from tidings.keys import hash_key
from tidings.server import ServerSettings


@pytest.fixture
def production(database_url: str) -> Iterator[Tidings]:
    """A production app on the SAME database as the staging one (the worst case)."""
    app = Tidings(database_url, environment="production")
    add_tasks(app)
    yield app
    app.close()


def test_requests_without_a_valid_key_are_401(api_app: Tidings, base_url: str) -> None:
    with httpx.Client(base_url=base_url) as c:
        answers = [
            c.get("/api/v1/runs"),
            c.get("/api/v1/runs", headers={"Authorization": "Basic abc"}),
            c.get("/api/v1/runs", headers={"Authorization": "Bearer"}),
            c.get("/api/v1/runs", headers={"Authorization": "Bearer tk_staging_" + "x" * 43}),
            c.post("/e/not-a-key", json={"name": "user.registered", "data": {}}),
        ]
    for r in answers:
        assert r.status_code == 401, r.text
        assert r.json()["error"]["code"] == "unauthorized"
    assert api_app.list_runs() == []


def test_a_staging_key_cannot_touch_production(
    api_app: Tidings, production: Tidings, base_url: str
) -> None:
    staging_key = new_key(api_app)
    prod_key = new_key(production)
    # A key row forged to claim production, with a staging-shaped key: still refused.
    forged = new_key(api_app, env="staging")
    with serving(production) as prod_url, client(prod_url) as c:
        for key in (staging_key, forged):
            h = {"Authorization": f"Bearer {key}"}
            assert c.get("/api/v1/runs", headers=h).status_code == 401
            assert c.post("/api/v1/tasks/slow/trigger", json={}, headers=h).status_code == 401
            assert c.post(f"/e/{key}", json={"name": "user.registered"}).status_code == 401
        ok = c.get("/api/v1/runs", headers={"Authorization": f"Bearer {prod_key}"})
    assert ok.status_code == 200
    with client(base_url, prod_key) as c:
        assert c.get("/api/v1/runs").status_code == 401  # and the other way round
    assert api_app.list_runs() == []


def test_a_publish_key_may_only_send_events_and_trigger(api_app: Tidings, base_url: str) -> None:
    run_id = api_app.trigger("slow").id
    key = new_key(api_app, "publish")
    with client(base_url, key) as c:
        assert c.post("/api/v1/events", json={"name": "a", "payload": 1}).status_code == 200
        assert c.post("/api/v1/tasks/slow/trigger", json={}).status_code == 201
        denied = [
            c.get("/api/v1/runs"),
            c.get(f"/api/v1/runs/{run_id}"),
            c.post(f"/api/v1/runs/{run_id}/cancel"),
            c.post(f"/api/v1/runs/{run_id}/replay"),
        ]
    for r in denied:
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "forbidden"
        assert run_id not in r.text


def test_a_revoked_key_is_refused_at_once_without_the_key_cache(api_app: Tidings) -> None:
    key = new_key(api_app)
    (record,) = api_app.store.keys.of_environment("staging")
    with serving(api_app, ServerSettings(key_cache_seconds=0)) as url, client(url, key) as c:
        assert c.get("/api/v1/runs").status_code == 200
        assert api_app.store.keys.revoke("staging", record.id, api_app.clock.now())
        r = c.get("/api/v1/runs")
    assert r.status_code == 401
    assert "revoked" in r.json()["error"]["message"]


def test_a_revoked_key_is_refused_within_the_key_cache_ttl(api_app: Tidings) -> None:
    key = new_key(api_app)
    (record,) = api_app.store.keys.of_environment("staging")
    ttl = 1.0
    with serving(api_app, ServerSettings(key_cache_seconds=ttl)) as url, client(url, key) as c:
        assert c.get("/api/v1/runs").status_code == 200  # verified and cached from here
        cached_at = time.monotonic()
        assert api_app.store.keys.revoke("staging", record.id, api_app.clock.now())
        statuses: list[int] = []
        while not statuses or statuses[-1] == 200:
            statuses.append(c.get("/api/v1/runs").status_code)
            assert time.monotonic() - cached_at < ttl + 2, statuses
            time.sleep(0.05)
        refused_after = time.monotonic() - cached_at
        assert statuses[-1] == 401
        assert set(statuses[:-1]) <= {200}
        # a fresh key works at once: only keys seen alive are cached
        other = new_key(api_app)
        assert c.get("/api/v1/runs", headers=auth(other)).status_code == 200
    assert ttl * 0.8 <= refused_after <= ttl + 1.0  # cached, then looked up again


def test_keys_are_stored_hashed_and_never_appear_in_responses_or_logs(
    api_app: Tidings, base_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key = new_key(api_app, "publish")
    (record,) = api_app.store.keys.of_environment("staging")
    assert record.hint != key
    assert key.startswith(record.hint)
    assert api_app.store.keys.find(hash_key(key)) == record
    bodies = []
    with httpx.Client(base_url=base_url) as c:
        bodies.append(c.post(f"/e/{key}", json={"name": "x", "data": {}}).text)
        bodies.append(c.post(f"/e/{key}", json={"name": ""}).text)
        bodies.append(c.post(f"/e/{key}x", json={"name": "x"}).text)
        bodies.append(c.get("/api/v1/runs", headers={"Authorization": f"Bearer {key}"}).text)
        bodies.append(c.get("/api/v1/runs", headers={"Authorization": f"Bearer {key}zz"}).text)
        bodies.append(c.get("/metrics").text)
    secret_part = key.split("_", 2)[2]
    # the server's log lines (the test's own HTTP client logs the URLs it calls)
    server_log = "\n".join(
        r.getMessage() for r in caplog.records if r.name.startswith(("tidings", "uvicorn"))
    )
    for text in [*bodies, server_log]:
        assert secret_part not in text
    assert "POST /e/{key} 200" in server_log  # the access log shows the route template
