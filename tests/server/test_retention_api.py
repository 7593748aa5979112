"""GET /api/v1/retention and POST /api/v1/retention/prune (admin keys only)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.server.harness import client, new_key
from tidings import Context, Tidings
from tidings.errors import UnknownRunError
from tidings.testing import TestEngine


async def test_the_policy_a_dry_run_and_a_prune_over_http(api_app: Tidings, base_url: str) -> None:
    @api_app.task
    async def finished(ctx: Context, payload: Any) -> int:
        return 1

    async with TestEngine(api_app, start=datetime.now(UTC) - timedelta(days=45)) as t:
        old = [(await t.trigger("finished", {})).id for _ in range(3)]
    admin, publisher = new_key(api_app, "admin"), new_key(api_app, "publish")
    with client(base_url, publisher) as c:
        assert c.get("/api/v1/retention").status_code == 403
        assert c.post("/api/v1/retention/prune").status_code == 403
    with client(base_url, admin) as c:
        policy = c.get("/api/v1/retention").json()
        assert policy["periods"]["runs"] == 30 * 86_400
        assert policy["batch"] == 2000
        assert policy["last_prune"] is None
        dry = c.post("/api/v1/retention/prune", params={"dry_run": "true"}).json()
        assert dry["dry_run"] is True and dry["counts"]["runs"] == 3  # noqa: PT018
        assert all(api_app.get_run(r) for r in old)
        done = c.post("/api/v1/retention/prune").json()
        assert done["counts"]["runs"] == 3
        assert c.get("/api/v1/retention").json()["last_prune"]["id"] == done["id"]
        bad = c.post("/api/v1/retention/prune", params={"dry_run": "maybe"})
        assert bad.status_code == 422
    for run_id in old:
        with pytest.raises(UnknownRunError):
            api_app.get_run(run_id)
