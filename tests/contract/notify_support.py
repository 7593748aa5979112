"""Shared by the notification contract tests: a templates folder and an app using it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tidings import Tidings

# Vietnamese copy for in_app and sms only: the other files fall back to English.
TEMPLATES: dict[str, str] = {
    "alert/en/in_app.title": "Hello {{ name }}",
    "alert/en/in_app.body": "Your results are ready, {{ name }}.",
    "alert/en/email.subject": "Results for {{ name }}",
    "alert/en/email.html": "<p>Dear {{ name }}, your results are ready.</p>",
    "alert/en/push.title": "Results ready",
    "alert/en/push.body": "Open the app, {{ name }}.",
    "alert/en/sms.txt": "Results ready for {{ name }}.",
    "alert/vi/in_app.body": "Kết quả của {{ name }} đã sẵn sàng.",
    "alert/vi/sms.txt": "Kết quả xét nghiệm của {{ name }} đã có.",
    "urgent/en/in_app.body": "Urgent: {{ name }}",
    "urgent/en/email.subject": "Urgent for {{ name }}",
    "urgent/en/email.txt": "Urgent, {{ name }}.",
    "urgent/en/push.body": "Urgent, {{ name }}.",
    "urgent/en/sms.txt": "Urgent, {{ name }}.",
    "broken/en/in_app.body": "Hi {{ name }}",
    "broken/en/email.subject": "Hi {{ name }}",
    "broken/en/email.txt": "Your code is {{ code }}",
}
ALL = ("in_app", "email", "push", "sms")


def write_templates(root: Path, files: dict[str, str] | None = None) -> Path:
    for rel, text in (files or TEMPLATES).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def notify_app(make_app: Callable[..., Tidings], tmp_path: Path, **options: object) -> Tidings:
    # These tests exercise the providers themselves: no sandbox diverting them to the
    # outbox (tests/contract/test_sandbox.py covers the sandbox).
    options.setdefault("sandbox", False)
    app = make_app(templates=write_templates(tmp_path / "templates"), **options)
    app.notification_type("alert", channels=ALL)
    app.notification_type("urgent", channels=ALL, critical=True)
    app.notification_type("broken", channels=("in_app", "email"))
    return app
