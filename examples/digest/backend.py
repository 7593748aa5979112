"""The note product's backend: the calls where it starts jobs (signup, connect, sync)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from tidings import RunHandle, Tidings

from .domain import NotesData
from .tasks import sequence_key

Clock = Callable[[], datetime]


class Backend:
    def __init__(self, app: Tidings, data: NotesData, clock: Clock) -> None:
        self.app = app
        self.data = data
        self.clock = clock

    def sign_up(
        self,
        *,
        email: str,
        name: str,
        timezone: str,
        digest_hour: int = 8,
        user_id: str | None = None,
    ) -> str:
        """Create the user and start the welcome sequence."""
        with self.data.transaction():  # a rejected address leaves no user behind
            uid = self.data.create_user(
                email=email,
                name=name,
                timezone=timezone,
                digest_hour=digest_hour,
                now=self.clock(),
                user_id=user_id,
            )
            self.app.recipients.upsert(uid, email=email, locale="en", timezone=timezone)
        self.start_sequence(uid, "welcome")
        return uid

    def start_sequence(self, user_id: str, sequence: str) -> RunHandle:
        """Record the sequence state (once) and trigger its runner (once per user+sequence)."""
        self.data.start_sequence(user_id, sequence, self.clock())
        return self.app.trigger(
            "email-sequence-runner",
            {"userId": user_id, "sequenceName": sequence},
            idempotency_key=sequence_key(sequence, user_id),
        )

    def connect_notion(self, user_id: str, workspace: str, token: str) -> str:
        """Store the connection, sync it now, and start the integration sequence."""
        connection_id = self.data.connect_notion(user_id, workspace, token)
        self.app.trigger(
            "notion-sync-connection",
            {"connectionId": connection_id},
            idempotency_key=f"notion-sync-{connection_id}-initial",
        )
        self.start_sequence(user_id, "notion-connected")
        return connection_id

    def upgrade(self, user_id: str) -> None:
        self.data.upgrade(user_id, self.clock())

    def unsubscribe(self, user_id: str) -> None:
        self.data.unsubscribe(user_id)
