"""Digests: items for a key collected over a window, delivered by one run."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.conftest import START
from tests.contract.notify_support import write_templates
from tidings import Context, RunStatus, Tidings
from tidings.testing import TestEngine

FILES = {
    "new-quotes/en/email.subject": "{{ quotes | length }} new quotes",
    "new-quotes/en/email.txt": "{% for q in quotes %}{{ q.id }} {% endfor %}",
}


def _app(make_app: Callable[..., Tidings], tmp_path: Path) -> Tidings:
    app = make_app(templates=write_templates(tmp_path / "t", FILES))
    app.notification_type("new-quotes", channels=("email",))
    for user in ("u1", "u2"):
        app.recipients.upsert(user, email=f"{user}@example.com")

    @app.task(on_event="quote.created")
    async def quote_digest(ctx: Context, payload: dict[str, Any]) -> int | None:
        user = payload["user"]
        quotes = await ctx.digest(f"quotes:{user}", payload, window=timedelta(hours=1))
        if quotes is None:
            return None  # joined the window another run holds
        await ctx.notify("new-quotes", to=user, data={"quotes": quotes})
        return len(quotes)

    return app


async def test_one_email_for_every_quote_in_the_window(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    app = _app(make_app, tmp_path)
    async with TestEngine(app, start=START) as t:
        first = await t.send_event("quote.created", {"user": "u1", "id": "q1"})
        await t.advance(timedelta(minutes=10))
        await t.send_event("quote.created", {"user": "u1", "id": "q2"})
        await t.send_event("quote.created", {"user": "u2", "id": "q9"})
        await t.advance(timedelta(minutes=20))
        await t.send_event("quote.created", {"user": "u1", "id": "q3"})
        assert t.outbox.list() == []
        await t.advance(timedelta(minutes=30))
        sent = t.outbox.list(to="u1")
        assert [(e.subject, e.text) for e in sent] == [("3 new quotes", "q1 q2 q3")]
        assert t.now() == START + timedelta(hours=1)
        # a quote after the window closed opens the next one
        late = await t.send_event("quote.created", {"user": "u1", "id": "q4"})
        await t.advance(timedelta(hours=1))
        holder = await t.get_run(first.run_ids[0])
        runs = await t.list_runs(task_id="quote-digest", limit=10)
    assert [(e.subject, e.text) for e in t.outbox.list(to="u1")] == [
        ("1 new quotes", "q4"),
        ("3 new quotes", "q1 q2 q3"),
    ]
    assert [(e.subject, e.text) for e in t.outbox.list(to="u2")] == [("1 new quotes", "q9")]
    assert holder.result == 3
    assert (await t.get_run(late.run_ids[0])).result == 1
    assert sorted((r.result or 0) for r in runs) == [0, 0, 1, 1, 3]
    assert all(r.status is RunStatus.COMPLETED for r in runs)


async def test_a_replayed_add_is_not_counted_twice(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    app = make_app()
    attempts: list[int] = []

    @app.task()
    async def collect(ctx: Context) -> list[Any] | None:
        items = await ctx.digest("k", {"n": 1}, window=60)
        attempts.append(ctx.attempt)
        if ctx.attempt == 1:
            raise RuntimeError("fail once after the window")
        return items

    async with TestEngine(app, start=START) as t:
        h = await t.trigger(collect)
        await t.advance(timedelta(minutes=5))
        run = await t.get_run(h.id)
    assert run.status is RunStatus.COMPLETED
    assert run.result == [{"n": 1}]
    assert attempts == [1, 2]


async def test_bad_digest_arguments_are_rejected(app: Tidings) -> None:
    @app.task()
    async def bad(ctx: Context, payload: dict[str, Any]) -> None:
        await ctx.digest(payload["key"], 1, window=payload["window"])

    async with TestEngine(app, start=START) as t:
        for payload, message in (({"key": "", "window": 5}, "digest key"),
                                 ({"key": "k", "window": -5}, "window")):  # fmt: skip
            h = await t.trigger(bad, payload)
            run = await t.get_run(h.id)
            assert run.status is RunStatus.FAILED
            assert run.error is not None
            assert message in run.error.message
