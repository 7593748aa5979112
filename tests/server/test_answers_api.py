"""Answers over HTTP (issue 16): a question asked on email and in-app, answered by the
first of many concurrent clicks; GET never answers; tokens completed by URL and API key;
the timeout closes the question's links; bad links change nothing."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.contract.notify_support import write_templates
from tests.server.conftest import Recording
from tests.server.harness import new_key, serving, wait_until
from tidings import Context, RunStatus, Tidings, WaitToken

TEMPLATES = {
    "quote/en/in_app.title": "Quote {{ quote }}",
    "quote/en/in_app.body": "Accept quote {{ quote }}?",
    "quote/en/email.subject": "Quote {{ quote }}",
    "quote/en/email.html": '<p>Quote {{ quote }}: <a href="{{ actions.accept.url }}">'
    '{{ actions.accept.label }}</a> or <a href="{{ actions.decline.url }}">'
    "{{ actions.decline.label }}</a></p>",
    "quote/en/actions.json": '{"labels": {"accept": "Accept the quote", "decline": "Decline"}}',
    "plain/en/email.subject": "Plain {{ quote }}",
    "plain/en/email.txt": "Quote {{ quote }}, no links placed here.",
    "plain/en/in_app.body": "Plain {{ quote }}",
}
LINK = re.compile(r'href="(/a/[^"]+)"')


@pytest.fixture
def email() -> Recording:
    return Recording()


@pytest.fixture
def ask_app(database_url: str, tmp_path: Path, email: Recording) -> Iterator[Tidings]:
    app = Tidings(
        database_url,
        environment="staging",
        templates=write_templates(tmp_path / "templates", TEMPLATES),
        secret_key="s" * 32,
        channels={"email": [email]},
        sandbox=False,
    )
    app.notification_type("quote", channels=("in_app", "email"))
    app.notification_type("plain", channels=("in_app", "email"))
    app.recipients.upsert("hospital", email="desk@hospital.example", locale="en")

    @app.task
    async def approve(ctx: Context, payload: dict[str, Any]) -> Any:
        answer = await ctx.ask(
            payload.get("type", "quote"),
            to="hospital",
            data={"quote": payload["quote"]},
            timeout=timedelta(seconds=payload.get("timeout", 3600)),
        )
        return None if answer is None else answer.to_json()

    @app.task
    async def hold(ctx: Context, payload: None) -> Any:
        token = await ctx.create_token(timeout=timedelta(hours=1))
        await ctx.step("publish", lambda: token.to_json())
        result = await ctx.wait_for_token(token)
        return None if result is None else result.data

    yield app
    app.close()


@pytest.fixture
def url(ask_app: Tidings) -> Iterator[str]:
    with serving(ask_app) as base:
        yield base


@pytest.fixture
async def worker(ask_app: Tidings) -> AsyncIterator[None]:
    w = ask_app.worker(concurrency=4, poll_interval=0.05)
    running = asyncio.create_task(w.run())
    yield
    w.stop()
    await running


async def _asked(app: Tidings, email: Recording, run_id: str) -> tuple[dict[str, str], str]:
    """The email's action links (by action) and the in-app item's id, once sent."""
    await wait_until(lambda: email.sent and app.get_run(run_id).status is RunStatus.WAITING)
    html = email.sent[-1].html or ""
    links = dict(zip(("accept", "decline"), LINK.findall(html), strict=True))
    items = app.inbox.list("hospital")
    return links, items[0].id


async def _finished(app: Tidings, run_id: str) -> Any:
    await wait_until(lambda: app.get_run(run_id).status.finished)
    run = app.get_run(run_id)
    assert run.status is RunStatus.COMPLETED, run.error
    return run.result


async def test_twenty_concurrent_clicks_on_two_channels_answer_once(
    ask_app: Tidings, url: str, email: Recording, worker: None
) -> None:
    h = await ask_app.trigger_async("approve", {"quote": "Q-7"})
    links, item = await _asked(ask_app, email, h.id)
    token = await ask_app.inbox_token_async("hospital")
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        by_email = [client.post(links["accept"]) for _ in range(10)]
        in_app = [
            client.post(
                f"/api/v1/inbox/{item}/actions/decline",
                headers={"Authorization": f"Bearer {token}"},
            )
            for _ in range(10)
        ]
        replies = await asyncio.gather(*by_email, *in_app)
        assert all(r.status_code == 200 for r in replies), [r.text for r in replies]
        email_won = sum("Thank you" in r.text for r in replies[:10])
        app_won = sum(r.json()["outcome"] == "answered" for r in replies[10:])
        assert email_won + app_won == 1
        assert sum("already answered" in r.text for r in replies[:10]) == 10 - email_won
        result = await _finished(ask_app, h.id)
        expected = ("accept", "email") if email_won else ("decline", "in_app")
        assert (result["action"], result["channel"]) == expected
        assert result["recipient"] == "hospital"
        # the inbox item shows who answered what; later clicks are told
        listed = await client.get("/api/v1/inbox", headers={"Authorization": f"Bearer {token}"})
        shown = listed.json()["data"][0]["question"]
        assert shown["answer"]["action"] == expected[0]
        assert shown["answer"]["answered_by"] == "hospital"
        again = await client.get(links["decline"])
        assert "already answered" in again.text
    steps = [s for s in ask_app.get_run(h.id).steps if s.kind == "wait_for_token"]
    assert len(steps) == 1


async def test_a_get_on_an_email_link_never_answers(
    ask_app: Tidings, url: str, email: Recording, worker: None
) -> None:
    h = await ask_app.trigger_async("approve", {"quote": "Q-8"})
    links, _ = await _asked(ask_app, email, h.id)
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        for _ in range(3):
            page = await client.get(links["accept"])
            assert page.status_code == 200
            assert "Accept the quote" in page.text
            assert 'method="post"' in page.text
        assert ask_app.get_run(h.id).status is RunStatus.WAITING
        question = ask_app.store.tokens.open_questions(ask_app.clock.now(), 10)
        assert [q.answered_at for q in question] == [None]
        done = await client.post(links["accept"])
        assert "Thank you" in done.text
    assert (await _finished(ask_app, h.id))["action"] == "accept"


async def test_the_timeout_returns_none_and_later_clicks_say_closed(
    ask_app: Tidings, url: str, email: Recording, worker: None
) -> None:
    h = await ask_app.trigger_async("approve", {"quote": "Q-9", "timeout": 1})
    links, item = await _asked(ask_app, email, h.id)
    assert await _finished(ask_app, h.id) is None
    token = await ask_app.inbox_token_async("hospital")
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        page = await client.get(links["accept"])
        assert "has closed" in page.text
        late = await client.post(links["accept"])
        assert "has closed" in late.text
        by_app = await client.post(
            f"/api/v1/inbox/{item}/actions/accept", headers={"Authorization": f"Bearer {token}"}
        )
        assert by_app.json()["outcome"] == "closed"
    closed = ask_app.store.tokens.question(by_app.json()["question"]["id"])
    assert closed is not None
    assert closed.answered_at is None


async def test_bad_links_and_actions_change_nothing(
    ask_app: Tidings, url: str, email: Recording, worker: None
) -> None:
    h = await ask_app.trigger_async("approve", {"quote": "Q-10"})
    links, item = await _asked(ask_app, email, h.id)
    token = await ask_app.inbox_token_async("hospital")
    tampered = links["accept"][:-3] + ("AAA" if not links["accept"].endswith("AAA") else "BBB")
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        for method in ("GET", "POST"):
            bad = await client.request(method, tampered)
            assert bad.status_code == 400
            assert "not valid" in bad.text
        unknown = await client.post(
            f"/api/v1/inbox/{item}/actions/maybe", headers={"Authorization": f"Bearer {token}"}
        )
        assert unknown.status_code == 404
        assert "no action 'maybe'" in unknown.json()["error"]["message"]
    assert ask_app.get_run(h.id).status is RunStatus.WAITING
    assert ask_app.store.tokens.open_questions(ask_app.clock.now(), 10)[0].answered_at is None


async def test_a_template_without_action_links_gets_a_default_block(
    ask_app: Tidings, email: Recording, worker: None
) -> None:
    h = await ask_app.trigger_async("approve", {"type": "plain", "quote": "Q-11"})
    await wait_until(lambda: email.sent and ask_app.get_run(h.id).status is RunStatus.WAITING)
    text = email.sent[-1].text or ""
    assert "no links placed here" in text
    assert re.search(r"Accept: /a/\S+", text)
    assert re.search(r"Decline: /a/\S+", text)
    assert email.sent[-1].html is None


async def test_a_token_completes_by_its_url_and_by_api_key(
    ask_app: Tidings, url: str, worker: None
) -> None:
    first = await ask_app.trigger_async("hold")
    second = await ask_app.trigger_async("hold")

    def token_of(run_id: str) -> WaitToken | None:
        steps = [s for s in ask_app.get_run(run_id).steps if s.name == "publish"]
        return WaitToken.from_json(steps[0].result) if steps else None

    await wait_until(lambda: token_of(first.id) and token_of(second.id))
    by_url, by_key = token_of(first.id), token_of(second.id)
    assert by_url is not None
    assert by_key is not None
    key = new_key(ask_app, "publish")
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        denied = await client.post(f"/api/v1/tokens/{by_key.id}/complete", json={"data": 1})
        assert denied.status_code == 401
        done = await client.post(by_url.url, json={"approved": True})
        assert done.json() == {"id": by_url.id, "completed": True}
        again = await client.post(by_url.url, json={"approved": False})
        assert again.json()["completed"] is False
        headers = {"Authorization": f"Bearer {key}"}
        ok = await client.post(
            f"/api/v1/tokens/{by_key.id}/complete", json={"data": "yes"}, headers=headers
        )
        assert ok.json()["completed"] is True
        missing = await client.post("/api/v1/tokens/wtk_nope/complete", headers=headers)
        assert missing.status_code == 404
        forged = await client.post(by_url.url[:-2] + "xx", json={})
        assert forged.status_code == 400
    assert await _finished(ask_app, first.id) == {"approved": True}
    assert await _finished(ask_app, second.id) == "yes"
