"""ctx.ask's bad input (issue 16): a clear error at the call, nothing sent or stored."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import START
from tests.contract.notify_support import write_templates
from tidings import Context, RunStatus, Tidings
from tidings.testing import TestEngine


@pytest.fixture
def ask_app(make_app: Any, tmp_path: Path) -> Tidings:
    files = {"quote/en/in_app.body": "Quote {{ quote }}?"}
    app: Tidings = make_app(templates=write_templates(tmp_path / "templates", files))
    app.notification_type("quote", channels=("in_app",))
    app.recipients.upsert("hospital")

    @app.task
    async def ask(ctx: Context, payload: dict[str, Any]) -> Any:
        answer = await ctx.ask(
            "quote", to=payload.get("to", "hospital"), data={"quote": "Q1"},
            actions=payload["actions"], timeout=payload.get("timeout", 3600),
        )  # fmt: skip
        return None if answer is None else answer.to_json()

    return app


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"actions": []}, "at least one action, got actions=()"),
        ({"actions": ["accept", "accept"]}, "must be distinct; repeated: accept"),
        ({"actions": ["Accept!"]}, "'Accept!' is not a valid name"),
        ({"actions": "accept"}, "must be a list of action names"),
        ({"actions": ["accept"], "timeout": -5}, "timeout must be positive"),
        ({"actions": ["accept"], "to": "nobody"}, "no recipient with id 'nobody'"),
    ],
)
async def test_bad_questions_fail_at_the_call_and_send_nothing(
    ask_app: Tidings, payload: dict[str, Any], message: str
) -> None:
    async with TestEngine(ask_app, start=START) as t:
        h = await t.trigger("ask", payload)
        await t.advance(timedelta(minutes=5))
        run = await t.get_run(h.id)
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert message in run.error.message
    assert ask_app.inbox.list("hospital") == []
    assert ask_app.store.tokens.open_questions(START + timedelta(days=1), 10) == []
    assert ask_app.store.tokens.open_tokens(START + timedelta(days=1), 10) == []


async def test_an_operator_answer_resumes_the_run(ask_app: Tidings) -> None:
    async with TestEngine(ask_app, start=START) as t:
        h = await t.trigger("ask", {"actions": ["approve", "reject"]})
        (question,) = ask_app.store.tokens.open_questions(t.now(), 10)
        assert ask_app.answer_question(question.id, "reject", by="ops") == "answered"
        assert ask_app.answer_question(question.id, "approve") == "already"
        await t.run_due()
        run = await t.get_run(h.id)
    assert run.result is not None
    assert (run.result["action"], run.result["channel"]) == ("reject", "operator")
    answered = ask_app.store.tokens.question(question.id)
    assert answered is not None
    assert answered.answered_by == "operator ops"
