"""Alert rules from tidings.toml: [[tidings.alerts]] for every environment, an
environment's own list instead, webhook secrets only from variables."""

from __future__ import annotations

import base64
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from tidings import Alert, Webhook
from tidings.errors import ConfigError
from tidings.loader import load_app
from tidings.settings import check_config

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
TOML = """
[[tidings.alerts]]
on = "run.failed"
to = "ops-oncall"
every = 600
tasks = ["charge"]

[[environments.production.alerts]]
on = "deliveries.failing"
threshold = 0.25
window = 1800
webhook_url_env = "OPS_WEBHOOK_URL"
webhook_secret_env = "OPS_WEBHOOK_SECRET"

[[environments.production.alerts]]
on = "timers.late"
threshold = 45
to = "ops-oncall"
"""


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in ("TIDINGS_DATABASE_URL", "TIDINGS_ENV", "TIDINGS_APP"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "tidings.toml").write_text(TOML)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def _app_module(folder: Path, alerts: str = "") -> str:
    # a module of its own per test: load_app configures the app object it imports
    name = f"alertapp_{uuid.uuid4().hex}"
    (folder / f"{name}.py").write_text(
        "from tidings import Alert, Tidings\n"
        f"app = Tidings('sqlite:///{folder / 'a.db'}'{alerts})\n"
    )
    return f"{name}:app"


def test_every_environment_gets_the_tidings_table_rules(folder: Path) -> None:
    app = load_app(_app_module(folder), environment="staging")
    try:
        assert app.alerts == (
            Alert(on="run.failed", to="ops-oncall", every=timedelta(minutes=10), tasks=["charge"]),
        )
        assert "tidings.alerts" in app.kernel.tasks
    finally:
        app.close()


def test_an_environment_list_replaces_it_and_takes_its_webhook_from_variables(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPS_WEBHOOK_URL", "https://hooks.example.com/T000/B000/XXXX")
    monkeypatch.setenv("OPS_WEBHOOK_SECRET", SECRET)
    app = load_app(_app_module(folder), environment="production")
    try:
        failing, late = app.alerts
    finally:
        app.close()
    assert failing.on == "deliveries.failing"
    assert failing.to == Webhook("https://hooks.example.com/T000/B000/XXXX", SECRET)
    assert (failing.threshold, failing.window) == (0.25, timedelta(minutes=30))
    assert (late.on, late.threshold, late.to) == (
        "timers.late",
        timedelta(seconds=45),
        "ops-oncall",
    )


def test_rules_in_the_code_win_over_the_file(folder: Path) -> None:
    own = ", alerts=[Alert(on='queue.backlog', to='me')]"
    app = load_app(_app_module(folder, own), environment="staging")
    try:
        assert [a.on for a in app.alerts] == ["queue.backlog"]
    finally:
        app.close()


def test_an_unset_secret_variable_or_a_bad_rule_is_named(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPS_WEBHOOK_URL", "https://hooks.example.com/x")
    monkeypatch.delenv("OPS_WEBHOOK_SECRET", raising=False)
    with pytest.raises(
        ConfigError, match=r"alerts\[0\] \(deliveries.failing\): .*OPS_WEBHOOK_SECRET"
    ):
        load_app(_app_module(folder), environment="production")
    assert any("OPS_WEBHOOK_SECRET" in p for p in check_config(folder))
    (folder / "tidings.toml").write_text('[[tidings.alerts]]\non = "runs.failed"\nto = "ops"\n')
    problems = check_config(folder)
    assert any("unknown alert condition 'runs.failed'" in p for p in problems)
    (folder / "tidings.toml").write_text(
        '[[tidings.alerts]]\non = "run.failed"\nto = "ops"\nsecret = "x"\n'
    )
    with pytest.raises(ConfigError, match="secret"):
        load_app(_app_module(folder), environment="staging")
