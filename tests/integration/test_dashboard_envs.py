"""Dashboards of two environments from one server: data, sessions, CSRF and actions stay
in their own environment; the header switches between them.

The process runs ``staging`` (SQLite file) and serves ``production`` too, whose database
is the ``database_url`` fixture: a second SQLite file, or a PostgreSQL schema.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.serving import serve
from tidings import Context, Tidings
from tidings.dashboard.auth import hash_password
from tidings.errors import ConfigError
from tidings.keys import create_key
from tidings.settings import dashboard_environments, default_database_url

pytestmark = pytest.mark.usefixtures("no_secrets_in_logs")  # issue 22, finding 4

STAGING_PASSWORD = "staging password"
PRODUCTION_PASSWORD = "production password"


def build(url: str, environment: str, secret: str) -> Tidings:
    app = Tidings(url, environment=environment, secret_key=secret)

    @app.task
    async def charge(ctx: Context, payload: dict[str, Any]) -> None:
        pass

    return app


@dataclass
class Setup:
    url: str
    staging: Tidings
    production: Tidings
    """Its own handle on the production database, as a production worker would have."""
    api: Any


@pytest.fixture
def setup(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    for var in ("TIDINGS_SECRET_KEY", "TIDINGS_DASHBOARD_PASSWORD_HASH", "TIDINGS_DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("TIDINGS_DASHBOARD_ENVS", raising=False)
    monkeypatch.chdir(tmp_path)
    staging_url = f"sqlite:///{tmp_path / 'staging.db'}"
    (tmp_path / "tidings.toml").write_text(
        f"""
[tidings]
dashboard_environments = ["production"]

[environments.staging]
database_url = "{staging_url}"
secret_key = "staging-secret-0123456789"
dashboard_password_hash = "{hash_password(STAGING_PASSWORD, n=2**10)}"

[environments.production]
database_url = "{database_url}"
secret_key = "production-secret-0123456789"
dashboard_password_hash = "{hash_password(PRODUCTION_PASSWORD, n=2**10)}"
""",
        encoding="utf-8",
    )
    staging = build(staging_url, "staging", "staging-secret-0123456789")
    production = build(database_url, "production", "production-secret-0123456789")
    production.migrate()
    api = staging.asgi()
    try:
        with serve(api) as url:
            yield Setup(url, staging, production, api)
    finally:
        api.state.dashboards.close()
        staging.close()
        production.close()


def login(client: httpx.Client, base: str, secret: str) -> httpx.Response:
    form = client.get(f"{base}/login")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert token is not None, form.text
    return client.post(
        f"{base}/login", data={"login_token": token.group(1), "secret": secret, "next": "/runs"}
    )


def csrf(client: httpx.Client, page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(page).text)
    assert found is not None
    return found.group(1)


def test_each_dashboard_shows_only_its_environments_runs(setup: Setup) -> None:
    in_staging = setup.staging.trigger("charge", {"n": 1})
    in_production = setup.production.trigger("charge", {"n": 2})
    with httpx.Client(base_url=setup.url) as client:
        assert login(client, "/dashboard", STAGING_PASSWORD).status_code == 303
        assert login(client, "/dashboard/production", PRODUCTION_PASSWORD).status_code == 303
        staging_page = client.get("/dashboard/runs").text
        production_page = client.get("/dashboard/production/runs").text
    assert in_staging.id in staging_page
    assert in_production.id not in staging_page
    assert in_production.id in production_page
    assert in_staging.id not in production_page
    assert "Production environment" in production_page
    assert "Sandbox environment" in staging_page
    assert "Production environment" not in staging_page


def test_a_staging_session_or_credential_never_opens_production(setup: Setup) -> None:
    staging_key = create_key(
        setup.staging.store, "staging", name="ops", scope="admin", now=setup.staging.clock.now()
    )
    production_key = create_key(
        setup.production.store,
        "production",
        name="ops",
        scope="admin",
        now=setup.production.clock.now(),
    )
    with httpx.Client(base_url=setup.url) as client:
        login(client, "/dashboard", STAGING_PASSWORD)
        staging_cookie = client.cookies.get("tidings_session")
        assert staging_cookie
        assert client.get("/dashboard/runs").status_code == 200
        # the staging cookie is sent to /dashboard/production too (its path covers it)...
        refused = client.get("/dashboard/production/runs")
        assert refused.status_code == 303
        assert refused.headers["location"] == "/dashboard/production/login?next=%2Fruns"
        # ...and under production's own cookie name it is still refused
        client.cookies.set("tidings_session_production", staging_cookie)
        assert client.get("/dashboard/production/runs").status_code == 303
        assert client.get("/dashboard/production/live?page=/runs").status_code == 303
        client.cookies.delete("tidings_session_production")
        # staging's password and staging's admin key do not sign in to production
        assert login(client, "/dashboard/production", STAGING_PASSWORD).status_code == 401
        assert login(client, "/dashboard/production", staging_key.secret).status_code == 401
        assert login(client, "/dashboard", production_key.secret).status_code == 401
        assert login(client, "/dashboard/production", production_key.secret).status_code == 303
        assert client.get("/dashboard/production/runs").status_code == 200


def test_the_switcher_lists_both_marks_the_sandbox_and_goes_there(setup: Setup) -> None:
    with httpx.Client(base_url=setup.url) as client:
        login(client, "/dashboard", STAGING_PASSWORD)
        page = client.get("/dashboard/runs").text
        select = re.search(r'<select id="env-switch" name="env"[^>]*>(.*?)</select>', page, re.S)
        assert select is not None
        options = re.findall(
            r'<option value="([^"]+)"[^>]*?(selected)?>([^<]+)</option>', select.group(1)
        )
        assert [(v, sel == "selected", label) for v, sel, label in options] == [
            ("staging", True, "staging (sandbox)"),
            ("production", False, "production (live)"),
        ]
        assert 'action="/dashboard/switch"' in page
        assert '<label for="env-switch">' in page
        going = client.get("/dashboard/switch", params={"env": "production"})
        assert (going.status_code, going.headers["location"]) == (303, "/dashboard/production/")
        # no session there yet: its sign-in page
        there = client.get("/dashboard/production/")
        assert there.headers["location"].startswith("/dashboard/production/login")
        assert client.get("/dashboard/switch", params={"env": "dev"}).status_code == 404
        back = client.get("/dashboard/switch", params={"env": "staging"})
        assert back.headers["location"] == "/dashboard/"
        login(client, "/dashboard/production", PRODUCTION_PASSWORD)
        production = client.get("/dashboard/production/runs").text
        assert '<option value="production" selected>' in production
        assert 'class="is-production"' in production


def test_an_action_in_staging_changes_nothing_in_production(setup: Setup) -> None:
    staged = setup.staging.trigger("charge", {"n": 1})
    live = setup.production.trigger("charge", {"n": 1})
    with httpx.Client(base_url=setup.url) as client:
        login(client, "/dashboard", STAGING_PASSWORD)
        login(client, "/dashboard/production", PRODUCTION_PASSWORD)
        staging_token = csrf(client, "/dashboard/runs")
        production_token = csrf(client, "/dashboard/production/runs")
        assert staging_token != production_token
        # staging's CSRF token is no good in production
        wrong = client.post(
            f"/dashboard/production/runs/{live.id}/cancel", data={"csrf": staging_token}
        )
        assert wrong.status_code == 403
        # a run id of production is unknown to staging's dashboard
        missing = client.post(f"/dashboard/runs/{live.id}/cancel", data={"csrf": staging_token})
        assert missing.status_code == 400
        done = client.post(f"/dashboard/runs/{staged.id}/cancel", data={"csrf": staging_token})
        assert done.status_code == 303
        triggered = client.post(
            "/dashboard/tasks/charge/trigger", data={"csrf": staging_token, "payload": "{}"}
        )
        assert triggered.status_code == 303
    assert setup.staging.get_run(staged.id).status == "CANCELLED"
    assert setup.production.get_run(live.id).status == "QUEUED"
    assert len(setup.production.list_runs(limit=10)) == 1
    assert len(setup.staging.list_runs(limit=10)) == 2


def test_names_are_checked_and_the_own_environment_left_out() -> None:
    assert dashboard_environments("staging", ["production", "staging", " dev", "preview-*"]) == [
        "production",
        "dev",
        "preview-*",
    ]
    with pytest.raises(ConfigError, match="unknown environment 'prod'"):
        dashboard_environments("staging", ["prod"])
    with pytest.raises(ConfigError, match="must be a list"):
        dashboard_environments("dev", None, {"tidings": {"dashboard_environments": "staging"}})


def test_environments_sharing_a_database_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TIDINGS_DATABASE_URL", raising=False)
    url = f"sqlite:///{tmp_path / 'one.db'}"
    (tmp_path / "tidings.toml").write_text(
        f'[environments.production]\ndatabase_url = "{url}"\n', encoding="utf-8"
    )
    staging = build(url, "staging", "staging-secret-0123456789")
    api = staging.asgi(dashboard_envs=["production"])
    try:
        with serve(api) as base, httpx.Client(base_url=base) as client:
            page = client.get("/dashboard/production/login")
        assert page.status_code == 503
        assert "would use the database of 'staging'" in page.text
    finally:
        api.state.dashboards.close()
        staging.close()


def test_an_environment_without_a_database_is_not_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TIDINGS_DATABASE_URL", raising=False)
    staging = build(f"sqlite:///{tmp_path / 'staging.db'}", "staging", "s" * 20)
    api = staging.asgi(dashboard_envs=["production"])
    try:
        with serve(api) as base, httpx.Client(base_url=base) as client:
            page = client.get("/dashboard/production/login")
        assert page.status_code == 503
        assert "run `tidings migrate --env production`" in page.text
        assert not (tmp_path / ".tidings" / "production.db").exists()
    finally:
        api.state.dashboards.close()
        staging.close()


def test_preview_environments_found_are_served_and_closed_on_shutdown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for var in ("TIDINGS_DATABASE_URL", "TIDINGS_SECRET_KEY", "TIDINGS_DASHBOARD_PASSWORD_HASH"):
        monkeypatch.delenv(var, raising=False)
    preview = build(default_database_url("preview-feat-1"), "preview-feat-1", "p" * 20)
    preview.migrate()
    key = create_key(
        preview.store, "preview-feat-1", name="ci", scope="admin", now=preview.clock.now()
    )
    dev = build(default_database_url("dev"), "dev", "d" * 20)
    api = dev.asgi(dashboard_envs=["preview-*"])
    dashboards = api.state.dashboards
    try:
        with serve(api) as base, httpx.Client(base_url=base) as client:
            assert login(client, "/dashboard/preview-feat-1", key.secret).status_code == 303
            page = client.get("/dashboard/preview-feat-1/runs").text
            assert '<option value="preview-feat-1" selected>preview-feat-1 (sandbox)' in page
            assert '<option value="dev">dev (sandbox)' in page
            # a preview that does not exist is not served: the own dashboard answers
            missing = client.get("/dashboard/preview-nope/")
            assert missing.headers["location"].startswith("/dashboard/login")
        (served,) = dashboards._apps.values()
        assert served[0].kernel._store is not None
        dashboards.close()
        assert served[0].kernel._store is None
        assert dashboards._apps == {}
    finally:
        dashboards.close()
        dev.close()
        preview.close()
