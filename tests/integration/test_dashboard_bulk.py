"""The dashboard's bulk actions over HTTP, both stores: select runs and act on them, act
on every run the list's filter matches (a bulk action and its progress page), and
"Replay from here" on a step of a run's timeline (issue 18)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from tests.serving import serve
from tidings import Context, Retry, RunStatus, Tidings
from tidings.dashboard import dashboard
from tidings.testing import TestEngine

from .test_dashboard_http import HASH, csrf, login

pytestmark = pytest.mark.usefixtures("no_secrets_in_logs")


@pytest.fixture
def app(make_app: Any) -> Tidings:
    a: Tidings = make_app(environment="staging")
    broken = {"on": True}

    @a.task(retry=Retry(max_attempts=1))
    async def onboard(ctx: Context, payload: dict[str, Any]) -> str:
        user = await ctx.step("load", lambda: payload["user"])

        def check() -> str:
            if broken["on"]:
                raise RuntimeError("profile service down")
            return "ok"

        verdict = await ctx.step("check-profile", check)
        return f"{user} {verdict}"

    a.broken = broken  # type: ignore[attr-defined]
    return a


@pytest.fixture
def client(app: Tidings) -> Iterator[httpx.Client]:
    server = Starlette(
        routes=[Mount("/dashboard", dashboard(app, password_hash=HASH, secret_key="s1"))]
    )
    with serve(server) as url, httpx.Client(base_url=url) as c:
        login(c)
        yield c


def test_select_runs_and_act_on_them(app: Tidings, client: httpx.Client) -> None:
    ids = [app.trigger("onboard", {"user": f"u{i}"}, delay=3600).id for i in range(4)]
    page = client.get("/dashboard/runs").text
    assert page.count('name="run"') == 4
    assert 'id="bulk-form"' in page
    token = csrf(client)
    done = client.post(
        "/dashboard/bulk",
        data={"csrf": token, "action": "cancel-selected", "run": ids[:2], "f-task": "onboard"},
    )
    assert done.status_code == 303
    assert done.headers["location"].endswith("/runs?task=onboard&done=cancelled%3A2")
    assert "2 runs cancelled." in client.get(done.headers["location"]).text
    assert [app.get_run(r).status for r in ids] == [
        RunStatus.CANCELLED, RunStatus.CANCELLED, RunStatus.QUEUED, RunStatus.QUEUED,
    ]  # fmt: skip
    replayed = client.post(
        "/dashboard/bulk", data={"csrf": token, "action": "replay-selected", "run": [ids[0]]}
    )
    assert replayed.status_code == 303
    assert [r.replay_of for r in app.list_runs() if r.replay_of] == [ids[0]]
    forged = client.post("/dashboard/bulk", data={"csrf": "x", "action": "cancel-selected"})
    assert forged.status_code == 403


async def test_act_on_the_filter_and_follow_the_bulk_action(
    app: Tidings, client: httpx.Client
) -> None:
    async with TestEngine(app) as t:
        tagged = [(await t.trigger("onboard", {"user": "a"}, delay=3600, tags=["imp"])).id]
        tagged.append((await t.trigger("onboard", {"user": "b"}, delay=3600, tags=["imp"])).id)
        other = (await t.trigger("onboard", {"user": "c"}, delay=3600)).id
        token = await asyncio.to_thread(csrf, client)
        started = await asyncio.to_thread(
            client.post,
            "/dashboard/bulk",
            data={"csrf": token, "action": "cancel-filter", "f-tag": "imp", "f-status": "QUEUED"},
        )
        assert started.status_code == 303
        location = started.headers["location"]
        assert re.search(r"/dashboard/bulk/blk_\w+$", location)
        before = (await asyncio.to_thread(client.get, location)).text
        assert "Bulk cancel" in before
        assert 'value="0"' in before  # the progress bar, nothing done yet
        await t.run_due()
        after = " ".join((await asyncio.to_thread(client.get, location)).text.split())
        assert "<strong>2</strong> of 2 runs gone through; 2 cancelled." in after, after[
            after.index("<main") :
        ]
        assert "completed" in after
        bulk_id = location.rsplit("/", 1)[1]
        seen = await asyncio.to_thread(_first_update, client, f"/bulk/{bulk_id}")
        assert "event: update" in seen
        assert [(await t.get_run(r)).status for r in tagged] == [RunStatus.CANCELLED] * 2
        assert (await t.get_run(other)).status is RunStatus.QUEUED

        keyed = await asyncio.to_thread(
            client.post,
            "/dashboard/bulk",
            data={"csrf": token, "action": "replay-filter", "f-key": "k1"},
        )
        assert keyed.status_code == 400
        assert "an idempotency key names one run" in keyed.text
        missing = await asyncio.to_thread(client.get, "/dashboard/bulk/blk_missing")
        assert missing.status_code == 404


async def test_replay_from_here_on_a_step_of_the_timeline(
    app: Tidings, client: httpx.Client
) -> None:
    async with TestEngine(app) as t:
        failed = await t.trigger("onboard", {"user": "ann"})
        await t.run_due()
        page = (await asyncio.to_thread(client.get, f"/dashboard/runs/{failed.id}")).text
        assert page.count("Replay from here") == 2  # load and check-profile
        app.broken["on"] = False  # type: ignore[attr-defined]
        forked = await asyncio.to_thread(
            client.post,
            f"/dashboard/runs/{failed.id}/replay-from",
            data={"csrf": await asyncio.to_thread(csrf, client), "step": "check-profile"},
        )
        assert forked.status_code == 303
        new_id = re.search(r"/runs/(run_\w+)\?done=replayed-from$", forked.headers["location"])
        assert new_id is not None
        assert (
            "the steps before it were reused"
            in (await asyncio.to_thread(client.get, forked.headers["location"])).text
        )
        await t.run_due()
        run = await t.get_run(new_id.group(1))
        assert (run.status, run.result) == (RunStatus.COMPLETED, "ann ok")
        assert [s.attempts for s in run.steps] == [1, 1]
        wrong = await asyncio.to_thread(
            client.post,
            f"/dashboard/runs/{failed.id}/replay-from",
            data={"csrf": await asyncio.to_thread(csrf, client), "step": "nope"},
        )
        assert wrong.status_code == 400
        assert "has no step" in wrong.text


def _first_update(client: httpx.Client, page: str) -> list[str]:
    """The live stream's lines up to its first rendering of ``page``."""
    seen = []
    params = {"page": page}
    with client.stream("GET", "/dashboard/live", params=params, timeout=10) as live:
        assert live.status_code == 200
        for line in live.iter_lines():
            seen.append(line)
            if "runs gone through" in line:
                break
    return seen
