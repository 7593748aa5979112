"""An app with a notification type, for ``tidings notify`` end to end
(``--app notifycliapp:app``)."""

from __future__ import annotations

from pathlib import Path

from tidings import Tidings

TEMPLATES = Path(__file__).resolve().parents[1] / "integration" / "notify_templates"

app = Tidings(templates=TEMPLATES)
app.notification_type("alert", channels=("in_app", "email"))
