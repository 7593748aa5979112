"""Answers that resume runs: wait tokens and the actions of questions (``ctx.ask``).

- ``POST /api/v1/tokens/{id}/complete`` (API key, scope ``publish``): complete a token.
- ``POST /t/{signed}`` (no key: the signed URL is the credential): the same, from a
  token's public ``url``.
- ``GET /a/{signed}``: an action link of a question (email, push). It shows the question
  and a confirm button and changes nothing (mail scanners follow links); ``POST`` answers.
- ``POST /api/v1/inbox/{item}/actions/{action}`` (inbox token): answer the question of an
  inbox item with one of its actions.

The first answer wins on every channel; later ones are told it was already answered,
and after the timeout that the question has closed. A tampered or expired link gets a
page (or, for a token URL, a 400) that says so, and nothing changes.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from tidings.app import Tidings
from tidings.errors import UnknownTokenError
from tidings.notify.answers import answer_message
from tidings.notify.tokens import InvalidTokenError
from tidings.records.notify import InboxItem
from tidings.server.auth import require
from tidings.server.errors import ApiError
from tidings.server.inbox_items import described
from tidings.server.routes_inbox import Reader
from tidings.server.routes_preferences import _page
from tidings.store.keys import ApiKeyRecord
from tidings.store.tokens import QuestionRow

router = APIRouter(tags=["answers"])
Publisher = Annotated[ApiKeyRecord, Depends(require("publish"))]
MAX_BODY = 64 * 1024
Signed = Annotated[str, Path(min_length=1, max_length=4096)]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such token, question, item or action."}
}
_BAD_PAGE: dict[int | str, dict[str, Any]] = {
    400: {
        "description": "The link is altered, of another environment or too old: a page "
        "that says so; nothing is changed.",
        "content": {"text/html": {}},
    }
}
_BAD_URL: dict[int | str, dict[str, Any]] = {
    400: {"description": "The link is altered, of another environment or too old."},
    **_NOT_FOUND,
}


def _app(request: Request) -> Tidings:
    app: Tidings = request.app.state.tidings
    return app


class CompleteIn(BaseModel):
    data: Any = Field(default=None, description="JSON the waiting run receives.")


class CompletedOut(BaseModel):
    id: str
    completed: bool = Field(
        description="True when this call completed it; false if it was already completed "
        "or has expired (nothing changed)."
    )


class AnswerOut(BaseModel):
    outcome: str = Field(description="answered, already (an earlier answer won) or closed.")
    message: str
    question: dict[str, Any]


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise ApiError(413, f"body over {MAX_BODY} bytes")
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(422, "body: not JSON") from None


@router.post(
    "/api/v1/tokens/{token_id}/complete",
    response_model=CompletedOut,
    summary="Complete a wait token and resume the run waiting on it",
    responses=_NOT_FOUND,
)
async def complete_token(
    request: Request,
    key: Publisher,
    token_id: Annotated[str, Path(min_length=1, max_length=255)],
    body: CompleteIn | None = None,
) -> CompletedOut:
    app = _app(request)
    done = await asyncio.to_thread(
        app.answers.complete_token,
        token_id,
        None if body is None else body.data,
        by=f"api key {key.name}",
    )
    return CompletedOut(id=token_id, completed=done)


@router.post(
    "/t/{signed}",
    response_model=CompletedOut,
    summary="Complete a wait token from its public URL (the signature is the credential)",
    responses=_BAD_URL,
)
async def complete_by_url(request: Request, signed: Signed) -> CompletedOut:
    """The body, if any, is the JSON the waiting run receives."""
    app = _app(request)
    data = await _json_body(request)
    try:
        token_id = await asyncio.to_thread(app.answers.verify_token_link, signed)
    except InvalidTokenError as exc:
        raise ApiError(400, f"this completion link is not valid: {exc}") from None
    done = await asyncio.to_thread(app.answers.complete_token, token_id, data, by="link")
    return CompletedOut(id=token_id, completed=done)


# -- action links (email, push) ------------------------------------------------------
def _bad_link() -> HTMLResponse:
    return _message_page(
        "This link cannot be used",
        "This link is not valid (it was altered or is too old), so nothing was changed.",
        400,
        bad=True,
    )


def _message_page(
    title: str,
    message: str,
    status: int = 200,
    *,
    bad: bool = False,
    form_action: str | None = None,
    button: str = "",
) -> HTMLResponse:
    return _page(
        "recipient_message.html", status, locale="en", title=title, message=message, bad=bad,
        form_action=form_action, button=button, preferences_link=None, t={},
    )  # fmt: skip


def _question_of_link(app: Tidings, signed: str) -> tuple[QuestionRow, str, str]:
    question_id, channel, action = app.answers.verify_action_link(signed)
    question = app.answers.question(question_id)
    if action not in question.actions:
        raise UnknownTokenError(f"question {question_id} has no action {action!r}")
    return question, channel, action


def _label(app: Tidings, question: QuestionRow, action: str) -> str:
    locale = app.recipients.get(question.recipient_id).locale or "en"
    try:
        return app.answers.labels(question.type_id, locale).label(action)
    except (ValueError, LookupError):
        return action


@router.get(
    "/a/{signed}",
    response_class=HTMLResponse,
    summary="An action link: shows the question and a confirm button (changes nothing)",
    responses=_BAD_PAGE,
)
async def action_page(request: Request, signed: Signed) -> Response:
    app = _app(request)
    try:
        question, _, action = await asyncio.to_thread(_question_of_link, app, signed)
        label = await asyncio.to_thread(_label, app, question, action)
    except (InvalidTokenError, LookupError, ValueError):
        return _bad_link()
    now = app.clock.now()
    if question.answered_at is not None:
        return _message_page("Already answered", answer_message("already", question))
    if now >= question.expires_at:
        return _message_page("Question closed", answer_message("closed", question))
    return _message_page(
        "Confirm your answer",
        f"Answer “{label}” to “{question.type_id}”?",
        form_action=request.url.path,
        button=label,
    )


@router.post(
    "/a/{signed}",
    response_class=HTMLResponse,
    summary="Answer a question with the action of this link (first answer wins)",
    responses=_BAD_PAGE,
)
async def action_answer(request: Request, signed: Signed) -> Response:
    app = _app(request)
    try:
        question, channel, action = await asyncio.to_thread(_question_of_link, app, signed)
        outcome, after = await asyncio.to_thread(
            lambda: app.answers.answer(question.id, action, channel=channel)
        )
    except (InvalidTokenError, LookupError, ValueError):
        return _bad_link()
    titles = {"answered": "Thank you", "already": "Already answered", "closed": "Question closed"}
    return _message_page(titles[outcome], answer_message(outcome, after))


# -- in-app actions ------------------------------------------------------------------
def question_id_of(item: InboxItem) -> str | None:
    """The question an inbox item asks, if it asks one (``data.question.id``)."""
    found = item.data.get("question") if isinstance(item.data, dict) else None
    if isinstance(found, dict) and isinstance(found.get("id"), str):
        return str(found["id"])
    return None


@router.post(
    "/api/v1/inbox/{item_id}/actions/{action}",
    response_model=AnswerOut,
    summary="Answer the question of an inbox item with one of its actions",
    tags=["inbox"],
    responses=_NOT_FOUND,
)
async def inbox_action(
    request: Request,
    who: Reader,
    item_id: Annotated[str, Path(min_length=1, max_length=255)],
    action: Annotated[str, Path(min_length=1, max_length=64)],
) -> AnswerOut:
    app = _app(request)
    found = await asyncio.to_thread(app.store.inbox.items, who.recipient_id, [item_id])
    question_id = question_id_of(found[0]) if found else None
    if question_id is None:
        raise ApiError(404, f"no inbox item {item_id!r} asking a question in this inbox")
    try:
        outcome, after = await asyncio.to_thread(
            lambda: app.answers.answer(question_id, action, channel="in_app")
        )
    except UnknownTokenError as exc:
        raise ApiError(404, str(exc)) from None
    return AnswerOut(
        outcome=outcome, message=answer_message(outcome, after), question=described(app, after)
    )
