"""``tidings doctor`` checks the alert rules can be delivered (both stores)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tidings import Tidings
from tidings.ops.doctor import run_checks

APP = """
from tidings import Alert, Context, Tidings, Webhook

app = Tidings(alerts=[
    Alert(on="run.failed", to="ops-oncall", tasks=["charge", "refund"]),
    Alert(on="queue.backlog", to="night-shift"),
    Alert(on="timers.late", to=Webhook("https://hooks.example.com/x",
                                       "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")),
])


@app.task
async def charge(ctx: Context) -> None:
    return None
"""


def test_doctor_warns_about_alerts_nobody_would_get(
    new_url: Callable[[], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"alertsapp_{uuid.uuid4().hex}"
    (tmp_path / f"{name}.py").write_text(APP)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    url = new_url()
    setup = Tidings(url)
    setup.migrate()  # doctor never migrates
    checks = {c.name: c for c in run_checks(f"{name}:app", database_url=url)}
    alerts = checks["alerts"]
    assert alerts.status == "warn"
    assert "'ops-oncall', who is not a recipient" in alerts.detail
    assert "unknown tasks refund" in alerts.detail
    assert "night-shift" in alerts.detail
    assert alerts.fix is not None
    assert "app.recipients.upsert('ops-oncall', email=...)" in alerts.fix

    setup.recipients.upsert("ops-oncall", email="oncall@example.com")
    setup.recipients.upsert("night-shift", email="night@example.com")
    setup.close()
    name2 = f"alertsapp_{uuid.uuid4().hex}"
    (tmp_path / f"{name2}.py").write_text(APP.replace('"charge", "refund"', '"charge"'))
    checks = {c.name: c for c in run_checks(f"{name2}:app", database_url=url)}
    assert (checks["alerts"].status, checks["alerts"].detail) == (
        "ok",
        "3 rules, each can be delivered",
    )
