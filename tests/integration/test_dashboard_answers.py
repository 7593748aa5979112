"""The dashboard's Waiting page (issue 16): open questions and wait tokens, answered or
completed by an operator behind the CSRF check, on both stores."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from tests.conftest import START
from tests.contract.notify_support import write_templates
from tests.integration.test_dashboard_http import HASH, csrf, login
from tests.serving import serve
from tidings import Context, RunStatus, Tidings
from tidings.dashboard import dashboard
from tidings.testing import TestEngine

pytestmark = pytest.mark.usefixtures("no_secrets_in_logs")


@pytest.fixture
def app(make_app: Any, tmp_path: Path) -> Tidings:
    files = {"quote/en/in_app.body": "Quote {{ quote }}?"}
    app: Tidings = make_app(templates=write_templates(tmp_path / "templates", files))
    app.notification_type("quote", channels=("in_app",))
    app.recipients.upsert("hospital")

    @app.task
    async def approve(ctx: Context, payload: None) -> Any:
        answer = await ctx.ask("quote", to="hospital", data={"quote": "Q1"}, timeout=3600)
        return None if answer is None else answer.to_json()

    @app.task
    async def hold(ctx: Context, payload: None) -> Any:
        token = await ctx.create_token(timeout=timedelta(hours=1), name="manual check")
        result = await ctx.wait_for_token(token)
        return None if result is None else result.data

    return app


@pytest.fixture
def client(app: Tidings) -> Iterator[httpx.Client]:
    server = Starlette(
        routes=[Mount("/dashboard", dashboard(app, password_hash=HASH, secret_key="s1"))]
    )
    with serve(server) as url, httpx.Client(base_url=url) as c:
        yield c


def operate(client: httpx.Client) -> None:
    """Sign in, answer the question and complete the token through the page's forms."""
    login(client)
    page = client.get("/dashboard/waiting")
    assert page.status_code == 200
    (question,) = re.findall(r"/waiting/questions/(qst_\w+)/answer", page.text)[:1]
    (token,) = set(re.findall(r"/waiting/tokens/(wtk_\w+)/complete", page.text))
    assert "manual check" in page.text
    token_csrf = csrf(client, "/dashboard/waiting")
    forged = client.post(
        f"/dashboard/waiting/questions/{question}/answer", data={"action": "accept"}
    )
    assert forged.status_code == 403
    unknown = client.post(
        f"/dashboard/waiting/questions/{question}/answer",
        data={"action": "maybe", "csrf": token_csrf},
    )
    assert unknown.status_code == 404
    assert "no action &#39;maybe&#39;" in unknown.text
    answered = client.post(
        f"/dashboard/waiting/questions/{question}/answer",
        data={"action": "decline", "csrf": token_csrf},
        follow_redirects=True,
    )
    assert f"Answered {question}: decline." in answered.text
    bad = client.post(
        f"/dashboard/waiting/tokens/{token}/complete",
        data={"data": "{nope", "csrf": token_csrf},
    )
    assert bad.status_code == 400
    assert "not JSON" in bad.text
    done = client.post(
        f"/dashboard/waiting/tokens/{token}/complete",
        data={"data": '{"checked": true}', "csrf": token_csrf},
        follow_redirects=True,
    )
    assert f"Completed {token}." in done.text
    assert "No open questions." in done.text
    assert "No open wait tokens." in done.text


async def test_an_operator_answers_a_question_and_completes_a_token(
    app: Tidings, client: httpx.Client
) -> None:
    async with TestEngine(app, start=START) as t:
        asked = await t.trigger("approve")
        held = await t.trigger("hold")
        operate(client)
        await t.run_due()
        first, second = await t.get_run(asked.id), await t.get_run(held.id)
    assert first.status is RunStatus.COMPLETED
    assert first.result is not None
    assert (first.result["action"], first.result["channel"]) == ("decline", "operator")
    assert second.result == {"checked": True}
