"""Wait tokens and questions over a backend's database object."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from tidings.store.db.database import Bound, Row, Tx
from tidings.store.db.waits import event_json, record_event, resume_waiters
from tidings.store.events import NewEvent
from tidings.store.tokens import (
    TOKEN_COMPLETED,
    Completion,
    NewQuestion,
    NewToken,
    QuestionRow,
    TokenRow,
    Tokens,
)


class DbTokens(Bound, Tokens):
    def create(self, token: NewToken) -> TokenRow:
        with self._transaction(write=True) as tx:
            return self._create_in(tx, token)

    def _create_in(self, tx: Tx, token: NewToken) -> TokenRow:
        params = {
            "id": token.id,
            "run_id": token.run_id,
            "step": token.step,
            "name": token.name,
            "created_at": self._ts(token.created_at),
            "expires_at": self._ts(token.expires_at),
        }
        tx.run("insert_token", params)
        if tx.rowcount() != 1 and token.run_id is not None:
            rows = tx.run("get_token_of_step", params)
        else:
            rows = tx.run("get_token", params)
        return self._token(rows[0])

    def get(self, token_id: str) -> TokenRow | None:
        with self._transaction(write=False) as tx:
            rows = tx.run("get_token", {"id": token_id})
        return self._token(rows[0]) if rows else None

    def complete(self, token_id: str, data: str, by: str, now: datetime) -> Completion:
        with self._transaction(write=True) as tx:
            if tx.run("token_is_question", {"id": token_id}):
                return Completion("question")
            return self._complete_in(tx, token_id, data, by, now)

    def _complete_in(self, tx: Tx, token_id: str, data: str, by: str, now: datetime) -> Completion:
        params = {"id": token_id, "data": data, "by": by, "now": self._ts(now)}
        if not tx.run("complete_token", params):
            found = tx.run("get_token", {"id": token_id})
            if not found:
                return Completion("unknown")
            return Completion("already" if found[0]["completed_at"] is not None else "expired")
        payload: dict[str, Any] = {"token_id": token_id, "data": json.loads(data)}
        event = NewEvent(f"token:{token_id}", TOKEN_COMPLETED, json.dumps(payload), now)
        resumed: list[str] = []
        if record_event(self._db, tx, event, now):
            result = event_json(event.id, TOKEN_COMPLETED, payload, now)
            resumed = resume_waiters(self._db, tx, TOKEN_COMPLETED, payload, result, now)
        return Completion("completed", tuple(resumed))

    def ask(self, question: NewQuestion) -> QuestionRow:
        with self._transaction(write=True) as tx:
            token = self._create_in(tx, question.token)
            existing = tx.run("get_question_of_token", {"token_id": token.id})
            if existing:
                return self._question(existing[0])
            tx.run(
                "insert_question",
                {
                    "id": question.id,
                    "token_id": token.id,
                    "run_id": token.run_id,
                    "type_id": question.type_id,
                    "recipient_id": question.recipient_id,
                    "actions": json.dumps(list(question.actions)),
                    "data": question.data,
                    "created_at": self._ts(token.created_at),
                    "expires_at": self._ts(token.expires_at),
                },
            )
            rows = tx.run("get_question_of_token", {"token_id": token.id})
        return self._question(rows[0])

    def set_notification(self, question_id: str, notification_id: str) -> None:
        params = {"id": question_id, "notification_id": notification_id}
        with self._transaction(write=True) as tx:
            tx.run("set_question_notification", params)

    def question(self, question_id: str) -> QuestionRow | None:
        with self._transaction(write=False) as tx:
            rows = tx.run("get_question", {"id": question_id})
        return self._question(rows[0]) if rows else None

    def question_of_notification(self, notification_id: str) -> QuestionRow | None:
        with self._transaction(write=False) as tx:
            rows = tx.run("get_question_of_notification", {"notification_id": notification_id})
        return self._question(rows[0]) if rows else None

    def answer(
        self,
        question_id: str,
        action: str,
        channel: str,
        answered_by: str,
        result: str,
        now: datetime,
    ) -> Completion:
        with self._transaction(write=True) as tx:
            rows = tx.run("get_question", {"id": question_id})
            if not rows:
                return Completion("unknown")
            token_id = str(rows[0]["token_id"])
            done = self._complete_in(tx, token_id, result, answered_by, now)
            if done.outcome == "completed":
                tx.run(
                    "answer_question",
                    {
                        "id": question_id,
                        "now": self._ts(now),
                        "action": action,
                        "channel": channel,
                        "answered_by": answered_by,
                    },
                )
            return done

    def open_question_for_phone(self, phone: str, now: datetime) -> QuestionRow | None:
        with self._transaction(write=False) as tx:
            rows = tx.run("open_question_for_phone", {"phone": phone, "now": self._ts(now)})
            if not rows:
                rows = tx.run("latest_question_for_phone", {"phone": phone})
        return self._question(rows[0]) if rows else None

    def open_tokens(self, now: datetime, limit: int) -> list[TokenRow]:
        with self._transaction(write=False) as tx:
            rows = tx.run("open_tokens", {"now": self._ts(now), "limit": limit})
        return [self._token(r) for r in rows]

    def open_questions(self, now: datetime, limit: int) -> list[QuestionRow]:
        with self._transaction(write=False) as tx:
            rows = tx.run("open_questions", {"now": self._ts(now), "limit": limit})
        return [self._question(r) for r in rows]

    def _token(self, r: Row) -> TokenRow:
        return TokenRow(
            id=str(r["id"]),
            run_id=_text(r["run_id"]),
            step=_text(r["step"]),
            name=_text(r["name"]),
            created_at=self._req(r["created_at"]),
            expires_at=self._req(r["expires_at"]),
            completed_at=self._dt(r["completed_at"]),
            data=_text(r["data"]),
            completed_by=_text(r["completed_by"]),
        )

    def _question(self, r: Row) -> QuestionRow:
        return QuestionRow(
            id=str(r["id"]),
            token_id=str(r["token_id"]),
            run_id=_text(r["run_id"]),
            type_id=str(r["type_id"]),
            recipient_id=str(r["recipient_id"]),
            actions=tuple(json.loads(r["actions"])),
            data=str(r["data"]),
            notification_id=_text(r["notification_id"]),
            created_at=self._req(r["created_at"]),
            expires_at=self._req(r["expires_at"]),
            answered_at=self._dt(r["answered_at"]),
            action=_text(r["action"]),
            channel=_text(r["channel"]),
            answered_by=_text(r["answered_by"]),
        )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
