"""Wait tokens and questions: ``ctx.create_token``, ``ctx.ask``, ``app.complete_token``.

A wait token is a row with an expiry (``store.tokens``); completing it records the
internal event ``tidings/token.completed`` in the same transaction, which resumes the run
waiting on it (``ctx.wait_for_token``) exactly like any event does, and wakes the
workers. Its public URL ``{public_url}/t/{signed}`` completes it on a POST: the signature
(purpose ``wait-token``) is the credential.

A question (``ctx.ask``) is a notification sent with actions and tied to one wait token.
Each channel renders the actions its own way (see :class:`ActionExtras`); every action
link is ``{public_url}/a/{signed}``, naming the question, the channel and the action
(purpose ``answer``): a GET shows the question and a confirm button, only a POST
answers. The first answer on any channel completes the token (one conditional UPDATE);
every later one is told the question was already answered, and after the timeout that
it has closed.
"""

from __future__ import annotations

import asyncio
import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote

from tidings import serde
from tidings.errors import UnknownRecipientError, UnknownTokenError, ValidationError
from tidings.ids import new_id
from tidings.kernel import TaskContext
from tidings.notify.service import Notifications
from tidings.notify.sms import sms_info
from tidings.notify.templates import Rendered
from tidings.notify.tokens import InvalidTokenError, sign_token, verify_token
from tidings.notify.urls import RecipientLinks
from tidings.records import NotifyResult
from tidings.records.answers import Answer, WaitToken
from tidings.records.notify import Channel
from tidings.store.tokens import NewQuestion, NewToken, QuestionRow

TOKEN_PURPOSE = "wait-token"
ANSWER_PURPOSE = "answer"
LINK_GRACE = timedelta(days=30)
"""How long after a token expires its links still verify (to say it has closed)."""
ACTIONS_FILE = "actions.json"
OPERATOR = "operator"
"""The channel an answer given on the dashboard, the CLI or the API is recorded under."""
ANSWER_CHANNELS = ("email", "sms", "push", "in_app", OPERATOR)

Answered = Literal["answered", "already", "closed"]


@dataclass(frozen=True)
class Labels:
    """An action's labels and the SMS sentences, in one locale (``actions.json``)."""

    labels: dict[str, str]
    sms_reply: str = "Reply {choices}."
    sms_choice: str = "{number} to {label}"

    def label(self, action: str) -> str:
        return self.labels.get(action) or action.replace("_", " ").replace("-", " ").title()

    def sms_prompt(self, actions: Sequence[str]) -> str:
        choices = ", ".join(
            self.sms_choice.format(number=i, label=self.label(a).lower())
            for i, a in enumerate(actions, 1)
        )
        return self.sms_reply.format(choices=choices)


class Answers:
    """Wait tokens and questions of one app (see the module doc)."""

    def __init__(self, service: Notifications, links: RecipientLinks) -> None:
        self.service = service
        self.kernel = service.kernel
        self.links = links

    # -- signed links ------------------------------------------------------------------
    def _sign(self, subject: str, purpose: str, ttl: timedelta) -> str:
        return sign_token(
            self.links.secret(),
            environment=self.kernel.environment,
            subject=subject,
            ttl=max(ttl, timedelta(seconds=1)),
            now=self.kernel.clock.now(),
            purpose=purpose,
        )

    def _verify(self, signed: str, purpose: str) -> str:
        return verify_token(
            self.links.secret(),
            signed,
            environment=self.kernel.environment,
            now=self.kernel.clock.now(),
            purpose=purpose,
        )

    def _base(self) -> str:
        return self.links.public_url or ""

    def token_url(self, token_id: str, expires_at: Any) -> str:
        ttl = expires_at - self.kernel.clock.now() + LINK_GRACE
        return f"{self._base()}/t/{quote(self._sign(token_id, TOKEN_PURPOSE, ttl))}"

    def verify_token_link(self, signed: str) -> str:
        """The token id of a completion link; InvalidTokenError if altered or too old."""
        return self._verify(signed, TOKEN_PURPOSE)

    def action_url(self, question: QuestionRow, action: str, channel: str) -> str:
        ttl = question.expires_at - self.kernel.clock.now() + LINK_GRACE
        subject = f"{question.id}:{channel}:{action}"
        return f"{self._base()}/a/{quote(self._sign(subject, ANSWER_PURPOSE, ttl))}"

    def verify_action_link(self, signed: str) -> tuple[str, str, str]:
        """``(question id, channel, action)`` of an action link; InvalidTokenError."""
        subject = self._verify(signed, ANSWER_PURPOSE)
        parts = subject.split(":")
        if len(parts) != 3 or not all(parts):
            raise InvalidTokenError("malformed token: not an action link")
        return parts[0], parts[1], parts[2]

    # -- completing --------------------------------------------------------------------
    def complete_token(self, token_id: str, data: Any = None, *, by: str = "app") -> bool:
        """Complete a token: True once, False if it was already completed or expired.

        Raises UnknownTokenError if there is no such token, ValidationError if the data
        is not JSON or the token belongs to a question (answer that instead).
        """
        if not isinstance(token_id, str) or not token_id:
            raise ValidationError(f"a token id must be a non-empty string, got {token_id!r}")
        encoded = self._encode(data, f"data completing token {token_id}")
        done = self.kernel.store.tokens.complete(token_id, encoded, by, self.kernel.clock.now())
        if done.outcome == "unknown":
            raise UnknownTokenError(f"no wait token with id {token_id!r}")
        if done.outcome == "question":
            raise ValidationError(
                f"token {token_id} belongs to a question: answer the question (one of its "
                "actions) rather than completing the token"
            )
        if done.resumed:
            self.kernel.wake()
        return done.outcome == "completed"

    def _encode(self, data: Any, what: str) -> str:
        encoded = serde.dumps(data, what)
        if len(encoded.encode()) > self.kernel.max_event_bytes:
            raise ValidationError(
                f"{what} is {len(encoded.encode())} bytes of JSON; the limit is "
                f"{self.kernel.max_event_bytes}"
            )
        return encoded

    def question(self, question_id: str) -> QuestionRow:
        found = self.kernel.store.tokens.question(question_id)
        if found is None:
            raise UnknownTokenError(f"no question with id {question_id!r}")
        return found

    def answer(
        self,
        question_id: str,
        action: str,
        *,
        channel: str,
        by: str | None = None,
        data: Any = None,
    ) -> tuple[Answered, QuestionRow]:
        """Answer a question with one of its actions (first answer wins).

        Returns ``answered`` (this call answered it), ``already`` (an earlier answer
        won) or ``closed`` (it timed out), with the question as it stands after.
        Raises UnknownTokenError for an unknown question or an action not among its own.
        """
        question = self.question(question_id)
        if action not in question.actions:
            raise UnknownTokenError(
                f"question {question_id} has no action {action!r}; its actions: "
                f"{', '.join(question.actions)}"
            )
        if channel not in ANSWER_CHANNELS:
            raise ValidationError(f"unknown answer channel {channel!r}")
        now = self.kernel.clock.now()
        who = by or question.recipient_id
        result = Answer(action, question.recipient_id, channel, now, data).to_json()
        encoded = self._encode(result, f"the answer to question {question_id}")
        done = self.kernel.store.tokens.answer(question_id, action, channel, who, encoded, now)
        if done.resumed:
            self.kernel.wake()
        after = self.question(question_id)
        if done.outcome == "completed":
            return "answered", after
        return ("already" if after.answered_at is not None else "closed"), after

    # -- ctx.create_token and ctx.ask --------------------------------------------------
    async def create_token(
        self, ctx: TaskContext, timeout: timedelta, name: str | None
    ) -> WaitToken:
        store = self.kernel.store

        async def make(full: str) -> WaitToken:
            now = ctx.now()
            new = NewToken(new_id("wtk"), ctx.run_id, full, name, now, now + timeout)
            row = await asyncio.to_thread(store.tokens.create, new)
            url = await asyncio.to_thread(self.token_url, row.id, row.expires_at)
            return WaitToken(row.id, url, row.expires_at)

        return await ctx.memoized(
            name or "token", "create_token", make, encode=WaitToken.to_json,
            decode=WaitToken.from_json,
        )  # fmt: skip

    async def ask(
        self,
        ctx: TaskContext,
        type_id: str,
        *,
        to: str,
        data: Any,
        actions: tuple[str, ...],
        timeout: timedelta,
        channels: Sequence[str] | None,
        name: str | None,
    ) -> Answer | None:
        service = self.service
        store = self.kernel.store
        step = name or f"ask {type_id}"

        async def send(full: str) -> dict[str, Any]:
            _, _, payload = service.prepare(type_id, to, data, channels)
            if await asyncio.to_thread(store.recipients.routing_inputs, to) is None:
                raise UnknownRecipientError(
                    f"no recipient with id {to!r}: app.recipients.upsert({to!r}, ...) first"
                )
            now = ctx.now()
            token = NewToken(new_id("wtk"), ctx.run_id, full, step, now, now + timeout)
            new = NewQuestion(new_id("qst"), token, type_id, to, actions, json.dumps(payload))
            question = await asyncio.to_thread(store.tokens.ask, new)
            extras = ActionExtras(self, question)
            result: NotifyResult = await asyncio.to_thread(
                service.send, type_id, to, data, channels, f"run:{ctx.run_id}/{full}",
                ctx.run_id, (), extras,
            )  # fmt: skip
            if result.notification_id:
                await asyncio.to_thread(
                    store.tokens.set_notification, question.id, result.notification_id
                )
            return {
                "question_id": question.id,
                "token_id": question.token_id,
                "expires_at": question.expires_at.isoformat(),
                "notification_id": result.notification_id,
            }

        asked = await ctx.memoized(step, "ask", send, encode=lambda v: v, decode=lambda v: v)
        token = WaitToken(asked["token_id"], "", datetime.fromisoformat(asked["expires_at"]))
        got = await ctx.wait_for_token(token, name=f"{step} answer")
        if got is None:
            return None
        return Answer.from_json(got.data)

    # -- labels ------------------------------------------------------------------------
    def labels(self, type_id: str, locale: str) -> Labels:
        """The action labels and SMS sentences of a type in a locale: the first
        ``actions.json`` found along the locale's fallbacks, else English defaults."""
        ntype = self.service.get_type(type_id)
        templates = self.service.templates
        try:
            folder = templates.folder(type_id, ntype.templates)
        except ValidationError:
            return Labels({})
        for candidate in templates.locales(locale):
            path = folder / candidate / ACTIONS_FILE
            if path.is_file():
                return _parse_labels(path.read_text(encoding="utf-8"), f"{type_id}/{candidate}")
        return Labels({})


def _parse_labels(text: str, where: str) -> Labels:
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise ValidationError(f"template {where}/{ACTIONS_FILE}: not JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise ValidationError(f"template {where}/{ACTIONS_FILE}: expected a JSON object")
    labels = raw.get("labels", {})
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        raise ValidationError(
            f"template {where}/{ACTIONS_FILE}: 'labels' must map action names to text"
        )
    sentences: dict[str, str] = {}
    for key in ("sms_reply", "sms_choice"):
        value = raw.get(key)
        if value is not None:
            if not isinstance(value, str):
                raise ValidationError(f"template {where}/{ACTIONS_FILE}: {key!r} must be text")
            sentences[key] = value
    return Labels(
        {str(k): v for k, v in labels.items()},
        sms_reply=sentences.get("sms_reply", Labels.sms_reply),
        sms_choice=sentences.get("sms_choice", Labels.sms_choice),
    )


class ActionExtras:
    """The actions of one question, per channel (a :class:`ChannelExtras`).

    - email: ``actions.<name>.url`` / ``.label`` for the templates; a block of links is
      appended to the HTML and text parts when the template placed none of them;
    - sms: ``actions.<name>.number`` / ``.label``, and "Reply 1 to accept, 2 to decline."
      appended when the text does not already hold it;
    - push: data ``categoryId`` (``tidings.<type>``) and ``actions`` (name -> URL);
    - in_app: data ``question`` (id and actions), answered through the inbox API.
    """

    def __init__(self, answers: Answers, question: QuestionRow) -> None:
        self.answers = answers
        self.question = question

    def _links(self, channel: Channel, locale: str) -> dict[str, dict[str, Any]]:
        labels = self.answers.labels(self.question.type_id, locale)
        return {
            a: {
                "url": self.answers.action_url(self.question, a, str(channel)),
                "label": labels.label(a),
                "number": i,
            }
            for i, a in enumerate(self.question.actions, 1)
        }

    def context(self, channel: Channel, locale: str) -> Mapping[str, Any]:
        return {"actions": self._links(channel, locale), "question_id": self.question.id}

    def data(self, channel: Channel) -> Mapping[str, Any]:
        if channel == Channel.PUSH:
            links = self._links(channel, "en")
            return {
                "categoryId": f"tidings.{self.question.type_id}",
                "question_id": self.question.id,
                "actions": {a: v["url"] for a, v in links.items()},
            }
        if channel == Channel.IN_APP:
            return {"question": {"id": self.question.id, "actions": list(self.question.actions)}}
        return {}

    def finish(self, channel: Channel, locale: str, rendered: Rendered) -> Rendered:
        if channel == Channel.EMAIL:
            links = self._links(channel, locale)
            body = (rendered.html or "") + (rendered.text or "")
            if any(v["url"] in body or html.escape(v["url"]) in body for v in links.values()):
                return rendered
            text = (
                (rendered.text or "")
                + "\n\n"
                + "\n".join(f"{v['label']}: {v['url']}" for v in links.values())
            )
            page = rendered.html
            if page is not None:
                buttons = " ".join(
                    f'<a href="{html.escape(v["url"])}" style="display:inline-block;'
                    "padding:8px 16px;margin:4px;border:1px solid #555;border-radius:4px;"
                    f'text-decoration:none">{html.escape(v["label"])}</a>'
                    for v in links.values()
                )
                block = f'<p class="tidings-actions">{buttons}</p>'
                page = (
                    page.replace("</body>", block + "</body>")
                    if "</body>" in page
                    else (page + block)
                )
            return replace(rendered, html=page, text=text.strip())
        if channel == Channel.SMS:
            labels = self.answers.labels(self.question.type_id, locale)
            prompt = labels.sms_prompt(self.question.actions)
            text = rendered.text or ""
            if prompt in text:
                return rendered
            text = f"{text} {prompt}".strip()
            return replace(rendered, text=text, sms=sms_info(text))
        return rendered


def answer_message(outcome: Answered, question: QuestionRow) -> str:
    """What a person who answered is told."""
    if outcome == "answered":
        return f"Thank you: your answer '{question.action}' was recorded."
    if outcome == "already":
        return f"This question was already answered ('{question.action}')."
    return "This question has closed: it can no longer be answered."


def waiting(answers: Answers, limit: int) -> dict[str, Any]:
    """Open wait tokens and open questions as JSON (the CLI's and MCP's listing)."""
    store = answers.kernel.store
    now = answers.kernel.clock.now()
    return {
        "tokens": [
            {"id": t.id, "run_id": t.run_id, "name": t.name,
             "expires_at": t.expires_at.isoformat()}
            for t in store.tokens.open_tokens(now, limit)
        ],
        "questions": [describe(q) for q in store.tokens.open_questions(now, limit)],
    }  # fmt: skip


def describe(question: QuestionRow) -> dict[str, Any]:
    """A question as JSON (the API, the dashboard, the inbox widget)."""
    return {
        "id": question.id,
        "token_id": question.token_id,
        "run_id": question.run_id,
        "type": question.type_id,
        "recipient_id": question.recipient_id,
        "actions": list(question.actions),
        "created_at": question.created_at.isoformat(),
        "expires_at": question.expires_at.isoformat(),
        "answer": None
        if question.answered_at is None
        else {
            "action": question.action,
            "channel": question.channel,
            "answered_by": question.answered_by,
            "answered_at": question.answered_at.isoformat(),
        },
    }
