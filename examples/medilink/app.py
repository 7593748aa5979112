"""MediLink on tidings: the app object, its data and its backend, wired together.

``examples.medilink.app:app`` is the :class:`~tidings.Tidings` object the CLI loads
(``tidings worker --app examples.medilink.app:app``). ``medilink`` bundles it with the
example's own data (:class:`SqlDirectory`) and backend (:class:`Backend`), which is how
tests and the demo set up users, appointments and quotes. :func:`create` builds a fresh,
independent set (the tests make one per database).

The example's tables live in their own database: ``$MEDILINK_DATABASE_URL``, else
``.tidings/medilink-<environment>.db`` next to tidings' own.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tidings import Tidings

from .backend import Backend
from .domain import SqlDirectory
from .notifications import declare_notifications
from .tasks import register_tasks

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class MediLink:
    app: Tidings
    data: SqlDirectory
    backend: Backend

    def close(self) -> None:
        self.data.close()
        self.app.close()


def create(
    database_url: str | None = None,
    *,
    data_url: str | None = None,
    environment: str | None = None,
    ids: Callable[[str], str] | None = None,
) -> MediLink:
    """A MediLink app on ``database_url`` (tidings) with its data at ``data_url``."""
    app = Tidings(database_url, environment=environment, templates=TEMPLATES)
    declare_notifications(app)
    data = SqlDirectory(
        data_url
        or os.environ.get("MEDILINK_DATABASE_URL")
        or f"sqlite:///.tidings/medilink-{app.environment}.db",
        ids=ids,
    )
    register_tasks(app, data)
    backend = Backend(app, data, clock=lambda: app.clock.now())
    return MediLink(app, data, backend)


medilink = create()
app = medilink.app
