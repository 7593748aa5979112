"""The note product's digest and lifecycle jobs on tidings.

``examples.digest.app:app`` is the :class:`~tidings.Tidings` object; ``digest`` bundles
it with the product's data (:class:`NotesData`, in ``$DIGEST_DATABASE_URL`` or
``.tidings/digest-<environment>.db``), its backend and the fake Notion it syncs from.
:func:`create` builds a fresh, independent set.

Idempotency keys are kept for 30 days (Trigger.dev's default) instead of tidings' 24 h,
because a sequence runner lives for a week and its key must outlive a day.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from tidings import Tidings

from .backend import Backend
from .domain import NotesData
from .notion import FakeNotion
from .sequences import EMAIL_TYPES
from .tasks import register_tasks

TEMPLATES = Path(__file__).parent / "templates"
IDEMPOTENCY_TTL = timedelta(days=30)


@dataclass(frozen=True)
class Digest:
    app: Tidings
    data: NotesData
    backend: Backend
    notion: FakeNotion

    def close(self) -> None:
        self.data.close()
        self.app.close()


def create(
    database_url: str | None = None,
    *,
    data_url: str | None = None,
    environment: str | None = None,
) -> Digest:
    app = Tidings(
        database_url,
        environment=environment,
        templates=TEMPLATES,
        idempotency_ttl=IDEMPOTENCY_TTL,
    )
    for type_id in EMAIL_TYPES:
        app.notification_type(type_id, channels=("email",))
    notion = FakeNotion()
    data = NotesData(
        data_url
        or os.environ.get("DIGEST_DATABASE_URL")
        or f"sqlite:///.tidings/digest-{app.environment}.db",
        notion,
    )
    register_tasks(app, data)
    return Digest(app, data, Backend(app, data, clock=lambda: app.clock.now()), notion)


digest = create()
app = digest.app
