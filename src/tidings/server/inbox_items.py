"""Inbox items as the HTTP API and the realtime stream show them: an item asking a
question (``ctx.ask``) carries the question's actions, labels and state."""

from __future__ import annotations

from typing import Any

from tidings.app import Tidings
from tidings.notify.answers import describe
from tidings.records.notify import InboxItem
from tidings.server.models_notify import InboxItemOut
from tidings.store.tokens import QuestionRow


def described(app: Tidings, question: QuestionRow) -> dict[str, Any]:
    """A question as JSON with its actions' labels in the recipient's locale."""
    out = describe(question)
    try:
        locale = app.recipients.get(question.recipient_id).locale or "en"
        labels = app.answers.labels(question.type_id, locale)
        out["labels"] = {a: labels.label(a) for a in question.actions}
    except (LookupError, ValueError):  # a removed type or recipient: names only
        out["labels"] = {a: a for a in question.actions}
    return out


def items_out(app: Tidings, items: list[InboxItem]) -> list[InboxItemOut]:
    """Inbox items as the API returns them; one asking a question (``ctx.ask``, its data
    ``question.id``) carries the question's actions and state."""
    out = []
    for item in items:
        shown = InboxItemOut.of(item)
        asked = item.data.get("question") if isinstance(item.data, dict) else None
        if isinstance(asked, dict) and isinstance(asked.get("id"), str):
            found = app.store.tokens.question(asked["id"])
            if found is not None:
                shown.question = described(app, found)
        out.append(shown)
    return out
