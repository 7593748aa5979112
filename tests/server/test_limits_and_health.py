"""413, 429 with Retry-After, JSON errors everywhere, /healthz, /readyz, /metrics,
/openapi.json, CORS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server.harness import client, new_key, serving
from tidings import Tidings
from tidings.server import ServerSettings
from tidings.testing import TestEngine


def test_a_body_over_the_limit_is_413(api_app: Tidings) -> None:
    key = new_key(api_app, "publish")
    with serving(api_app, ServerSettings(max_body_bytes=4096)) as url, client(url, key) as c:
        small = c.post("/api/v1/events", json={"name": "x", "payload": "a" * 3000})
        big = c.post("/api/v1/events", json={"name": "x", "payload": "a" * 5000})

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
            yield b'{"name": "x", "payload": "'
            for _ in range(10):
                yield b"a" * 1000
            yield b'"}'

        streamed = c.post(
            "/api/v1/events", content=chunks(), headers={"Content-Type": "application/json"}
        )
    assert small.status_code == 200
    for r in (big, streamed):
        assert r.status_code == 413, r.text
        assert r.json()["error"] == {
            "code": "payload_too_large",
            "message": "request body over 4,096 bytes",
            "details": {"limit_bytes": 4096},
        }
    assert len(api_app.store.runs.newest()) == 0


def test_the_default_limit_is_256_kib(api_app: Tidings, base_url: str) -> None:
    key = new_key(api_app, "publish")
    with client(base_url, key) as c:
        r = c.post("/api/v1/events", json={"name": "x", "payload": "a" * (256 * 1024)})
    assert r.status_code == 413


def test_each_key_is_rate_limited_with_retry_after(api_app: Tidings) -> None:
    first, second = new_key(api_app, "publish"), new_key(api_app, "publish")
    settings = ServerSettings(rate_limit=0.5, rate_burst=3)
    with serving(api_app, settings) as url, httpx.Client(base_url=url) as c:
        answers = [
            c.post(
                "/api/v1/events",
                json={"name": "x", "payload": i},
                headers={"Authorization": f"Bearer {first}"},
            ).status_code
            for i in range(5)
        ]
        limited = c.post(
            "/api/v1/events",
            json={"name": "x", "payload": 0},
            headers={"Authorization": f"Bearer {first}"},
        )
        other = c.post(
            "/api/v1/events",
            json={"name": "x", "payload": 0},
            headers={"Authorization": f"Bearer {second}"},
        )
    assert answers == [200, 200, 200, 429, 429]
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) in (1, 2)
    assert other.status_code == 200  # per key


def test_unknown_routes_and_methods_answer_json(base_url: str) -> None:
    with httpx.Client(base_url=base_url) as c:
        missing = c.get("/api/v1/nothing-here")
        method = c.delete("/api/v1/events")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert method.status_code == 405
    assert method.json()["error"]["code"] == "method_not_allowed"


async def test_health_ready_and_metrics(api_app: Tidings, base_url: str) -> None:
    async with TestEngine(api_app) as t:
        await t.trigger("welcome", {"userId": "m"})
    api_app.trigger("slow")
    async with httpx.AsyncClient(base_url=base_url) as c:
        health = await c.get("/healthz")
        ready = await c.get("/readyz")
        await c.get("/api/v1/runs")  # a 401, counted by route
        metrics = (await c.get("/metrics")).text
    assert health.json() == {"status": "ok", "environment": "staging", "pending_migrations": None}
    assert ready.json()["status"] == "ready"
    assert 'tidings_runs{status="COMPLETED"} 1.0' in metrics
    assert 'tidings_runs{status="QUEUED"} 1.0' in metrics
    assert "tidings_queue_depth 1.0" in metrics
    assert "tidings_queue_oldest_age_seconds" in metrics
    assert 'tidings_step_duration_seconds_count{outcome="completed",task="welcome"}' in metrics
    assert (
        'tidings_http_requests_total{method="GET",route="/api/v1/runs",status="401"} 1.0' in metrics
    )


def test_readyz_reports_pending_migrations(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    app = Tidings(url, auto_migrate=False)
    try:
        with serving(app) as base, httpx.Client(base_url=base) as c:
            r = c.get("/readyz")
    finally:
        app.close()
    assert r.status_code == 503
    body = r.json()["error"]
    assert body["code"] == "migrations_pending"
    assert "0001_initial" in body["details"]["pending_migrations"]


def test_readyz_reports_an_unreachable_database() -> None:
    app = Tidings("postgresql://nobody@127.0.0.1:1/none")
    with serving(app) as base, httpx.Client(base_url=base) as c:
        r = c.get("/readyz")
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "unavailable"
    assert "database unreachable" in r.json()["error"]["message"]


def test_openapi_document_lists_every_endpoint(base_url: str) -> None:
    with httpx.Client(base_url=base_url) as c:
        doc = c.get("/openapi.json").json()
    paths = set(doc["paths"])
    assert {
        "/api/v1/events",
        "/e/{key}",
        "/api/v1/tasks/{task_id}/trigger",
        "/api/v1/runs",
        "/api/v1/runs/{run_id}",
        "/api/v1/runs/{run_id}/cancel",
        "/api/v1/runs/{run_id}/replay",
        "/healthz",
        "/readyz",
        "/metrics",
    } <= paths


@pytest.mark.parametrize("origin", ["https://app.example.com"])
def test_cors_for_configured_origins(api_app: Tidings, origin: str) -> None:
    with (
        serving(api_app, ServerSettings(cors_origins=(origin,))) as url,
        httpx.Client(base_url=url) as c,
    ):
        allowed = c.options(
            "/api/v1/runs",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        other = c.get("/healthz", headers={"Origin": "https://evil.example"})
    assert allowed.headers["access-control-allow-origin"] == origin
    assert "access-control-allow-origin" not in other.headers
