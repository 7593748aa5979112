"""The dashboard over HTTP: nothing readable signed out, CSRF, cookie flags, pages, actions."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pydantic
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from tests.serving import serve
from tidings import Context, Tidings
from tidings.dashboard import dashboard
from tidings.dashboard.auth import Signer, hash_password, verify_password
from tidings.errors import ConfigError

pytestmark = pytest.mark.usefixtures("no_secrets_in_logs")  # issue 22, finding 4

PASSWORD = "correct horse battery staple"
HASH = hash_password(PASSWORD, n=2**10)  # cheap for tests; the default is 2**14


class Order(pydantic.BaseModel):
    order_id: str
    amount: int


def build_app(tmp_path: Path) -> Tidings:
    app = Tidings(f"sqlite:///{tmp_path / 'dash.db'}", environment="staging")

    @app.task
    async def charge(ctx: Context, payload: Order) -> dict[str, Any]:
        ctx.logger.info("charging %s", payload.order_id)
        return {"charged": payload.amount}

    @app.task(cron="0 9 * * *", timezone="Europe/Paris")
    async def digest(ctx: Context, payload: dict[str, Any]) -> None:
        pass

    @app.task
    async def nap(ctx: Context) -> None:
        await ctx.sleep(timedelta(hours=1))

    return app


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Tidings]:
    a = build_app(tmp_path)
    yield a
    a.close()


@pytest.fixture
def client(app: Tidings) -> Iterator[httpx.Client]:
    server = Starlette(
        routes=[Mount("/dashboard", dashboard(app, password_hash=HASH, secret_key="s1"))]
    )
    with serve(server) as url, httpx.Client(base_url=url) as c:
        yield c


def login(client: httpx.Client, secret: str = PASSWORD) -> Any:
    form = client.get("/dashboard/login")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert token is not None
    return client.post(
        "/dashboard/login",
        data={"login_token": token.group(1), "secret": secret, "next": "/runs"},
    )


def csrf(client: httpx.Client, path: str = "/dashboard/runs") -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert found is not None
    return found.group(1)


PAGES = [
    "/",
    "/runs",
    "/runs/run_x",
    "/tasks",
    "/events",
    "/live?page=/runs",
    "/deliveries",
    "/deliveries/dlv_x",
    "/outbox",
    "/recipients",
    "/recipients/u1",
    "/topics",
    "/broadcasts/bct_x",
    "/live?page=/broadcasts/bct_x",
]


@pytest.mark.parametrize("page", PAGES)
def test_nothing_is_readable_signed_out(client: httpx.Client, page: str) -> None:
    response = client.get("/dashboard" + page)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/dashboard/login")
    assert "run_" not in response.text


def test_only_the_stylesheet_and_script_are_public(client: httpx.Client) -> None:
    assert client.get("/dashboard/static/app.css").status_code == 200
    assert client.get("/dashboard/static/../web.py").status_code != 200


def test_posts_signed_out_are_refused(client: httpx.Client, app: Tidings) -> None:
    response = client.post("/dashboard/tasks/charge/trigger", data={"payload": "{}"})
    assert response.status_code == 401
    assert app.list_runs() == []
    assert (
        client.get(
            "/dashboard/live?page=/runs", headers={"accept": "text/event-stream"}
        ).status_code
        == 401
    )


def test_login_sets_a_strict_session_cookie(client: httpx.Client) -> None:
    response = login(client)
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/runs"
    cookie = next(
        v for k, v in response.headers.multi_items() if k == "set-cookie" and "tidings_session" in v
    )
    flags = cookie.lower()
    assert "httponly" in flags
    assert "samesite=lax" in flags
    assert "path=/dashboard" in flags
    assert client.get("/dashboard/runs").status_code == 200


def test_wrong_password_and_forged_cookies_are_refused(client: httpx.Client) -> None:
    response = login(client, "nope")
    assert response.status_code == 401
    assert "not valid" in response.text
    forged = Signer("another secret", "staging").new_session("password")[1]
    client.cookies.set("tidings_session", forged, path="/dashboard")
    assert client.get("/dashboard/runs").status_code == 303
    other_env = Signer("s1", "production").new_session("password")[1]
    client.cookies.set("tidings_session", other_env, path="/dashboard")
    assert client.get("/dashboard/runs").status_code == 303


def test_login_form_needs_its_token(client: httpx.Client) -> None:
    response = client.post("/dashboard/login", data={"secret": PASSWORD})
    assert response.status_code == 403


def test_actions_without_the_csrf_token_are_rejected(client: httpx.Client, app: Tidings) -> None:
    login(client)
    for data in ({"payload": "{}"}, {"payload": "{}", "csrf": "forged"}):
        response = client.post("/dashboard/tasks/charge/trigger", data=data)
        assert response.status_code == 403
    assert app.list_runs() == []
    token = csrf(client)
    response = client.post(
        "/dashboard/tasks/charge/trigger",
        data={"csrf": token, "payload": '{"order_id": "o1", "amount": 5}'},
    )
    assert response.status_code == 303
    (run,) = app.list_runs()
    assert response.headers["location"] == f"/dashboard/runs/{run.id}?done=triggered"


def test_trigger_validates_the_payload_against_the_model(
    client: httpx.Client, app: Tidings
) -> None:
    login(client)
    token = csrf(client)
    bad = client.post(
        "/dashboard/tasks/charge/trigger", data={"csrf": token, "payload": '{"order_id": "o1"}'}
    )
    assert bad.status_code == 400
    assert "amount" in bad.text
    assert "Field required" in bad.text
    not_json = client.post("/dashboard/tasks/charge/trigger", data={"csrf": token, "payload": "{"})
    assert not_json.status_code == 400
    assert "not JSON" in not_json.text
    assert app.list_runs() == []


def test_logout_ends_the_session(client: httpx.Client) -> None:
    login(client)
    token = csrf(client)
    client.post("/dashboard/logout", data={"csrf": token})
    assert client.get("/dashboard/runs").status_code == 303


def test_pages_render_runs_tasks_schedules_and_events(client: httpx.Client, app: Tidings) -> None:
    login(client)
    handle = app.trigger("charge", {"order_id": "o7", "amount": 3}, tags=["vip"])
    app.send_event("order.created", {"id": 1})
    runs = client.get("/dashboard/runs?tag=vip&task=charge&range=24h")
    assert handle.id in runs.text
    assert client.get("/dashboard/runs?tag=other").text.count("/dashboard/runs/run_") == 0
    assert client.get("/dashboard/runs?status=BOGUS").status_code == 400
    found = client.get(f"/dashboard/runs?q={handle.id}")
    assert found.headers["location"] == f"/dashboard/runs/{handle.id}"
    detail = client.get(f"/dashboard/runs/{handle.id}")
    assert "o7" in detail.text
    assert "QUEUED" in detail.text
    assert client.get("/dashboard/runs/run_missing").status_code == 404
    tasks = client.get("/dashboard/tasks").text
    assert "0 9 * * *" in tasks
    assert "Europe/Paris" in tasks
    assert "Order" in tasks
    assert "order.created" in client.get("/dashboard/events").text
    overview = client.get("/dashboard/").text
    assert "<svg" in overview
    assert "Sandbox environment" in overview


def test_pause_and_resume_a_schedule(client: httpx.Client, app: Tidings) -> None:
    from tidings.engine.runtime import Runtime
    from tidings.engine.scheduler import Scheduler

    Scheduler(Runtime(app.kernel)).sync_static(app.clock.now())
    (schedule,) = app.schedules.list()
    login(client)
    token = csrf(client, "/dashboard/tasks")
    client.post(f"/dashboard/schedules/{schedule.id}/pause", data={"csrf": token})
    assert app.schedules.list()[0].paused is True
    assert ">Resume<" in client.get("/dashboard/tasks").text
    client.post(f"/dashboard/schedules/{schedule.id}/resume", data={"csrf": token})
    assert app.schedules.list()[0].paused is False
    missing = client.post("/dashboard/schedules/nope/pause", data={"csrf": token})
    assert missing.status_code == 404


def test_password_hashes() -> None:
    stored = hash_password("pw", n=2**10)
    assert verify_password("pw", stored)
    assert not verify_password("pW", stored)
    with pytest.raises(ConfigError, match="not a scrypt hash"):
        dashboard(Tidings("sqlite:///:memory:"), password_hash="plain")
    with pytest.raises(ConfigError, match="needs a way to sign in"):
        dashboard(Tidings("sqlite:///:memory:"))


def test_the_server_mounts_it_and_admin_keys_sign_in(app: Tidings) -> None:
    from datetime import UTC, datetime

    from tidings.keys import create_key

    now = datetime.now(UTC)
    admin = create_key(app.store, "staging", name="ops", scope="admin", now=now).secret
    publish = create_key(app.store, "staging", name="pub", scope="publish", now=now).secret
    other_env = "tk_production_" + "x" * 40
    with serve(app.asgi()) as url, httpx.Client(base_url=url) as client:
        assert client.get("/dashboard/runs").status_code == 303
        assert login(client, publish).status_code == 401
        assert login(client, other_env).status_code == 401
        response = login(client, admin)
        assert response.status_code == 303
        assert client.get("/dashboard/runs").status_code == 200
        assert client.get("/healthz").status_code == 200  # the API beside it is untouched


def test_pages_carry_a_content_security_policy_and_refuse_framing(client: httpx.Client) -> None:
    login(client)
    response = client.get("/dashboard/deliveries")
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "img-src 'self' data:" in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert client.get("/dashboard/deliveries/dlv_missing").status_code == 404
    assert client.get("/dashboard/recipients/nobody").status_code == 404
    assert client.get("/dashboard/deliveries?channel=fax").status_code == 400


def test_retry_now_cancel_and_replay_over_http(client: httpx.Client, app: Tidings) -> None:
    login(client)
    token = csrf(client)
    later = app.trigger("charge", {"order_id": "o2", "amount": 1}, delay=timedelta(hours=1))
    page = client.get(f"/dashboard/runs/{later.id}").text
    assert ">Retry now<" in page
    done = client.post(f"/dashboard/runs/{later.id}/retry", data={"csrf": token})
    assert done.headers["location"].endswith("done=retrying")
    run = app.get_run(later.id)
    assert run.run_at is not None
    assert run.run_at <= app.clock.now()
    cancelled = client.post(f"/dashboard/runs/{later.id}/cancel", data={"csrf": token})
    assert cancelled.headers["location"].endswith("done=cancelled")
    assert app.get_run(later.id).status.value == "CANCELLED"
    again = client.post(f"/dashboard/runs/{later.id}/retry", data={"csrf": token})
    assert again.headers["location"].endswith("done=not-retryable")
    replayed = client.post(f"/dashboard/runs/{later.id}/replay", data={"csrf": token})
    new_id = replayed.headers["location"].split("/runs/")[1].split("?")[0]
    assert app.get_run(new_id).replay_of == later.id
    assert client.post("/dashboard/runs/run_nope/cancel", data={"csrf": token}).status_code == 400


def test_live_stream_sends_the_page_part_when_it_changes(
    client: httpx.Client, app: Tidings
) -> None:
    login(client)
    handle = app.trigger("charge", {"order_id": "o3", "amount": 2})
    url = f"/dashboard/live?page=/runs/{handle.id}"
    with client.stream("GET", url, headers={"accept": "text/event-stream"}) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        seen: list[str] = []
        for line in stream.iter_lines():
            seen.append(line)
            updates = sum(s.startswith("event: update") for s in seen)
            if line == "" and updates == 1 and app.get_run(handle.id).status.value == "QUEUED":
                app.cancel(handle.id)
            if line == "" and updates == 2:
                break
    body = "\n".join(seen)
    assert "QUEUED" in body
    assert "CANCELLED" in body
    assert client.get("/dashboard/live?page=/nowhere").status_code == 404


def test_production_without_a_secret_answers_503_saying_what_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TIDINGS_SECRET_KEY", raising=False)
    app = Tidings(f"sqlite:///{tmp_path / 'prod.db'}", environment="production")
    try:
        with serve(app.asgi()) as url, httpx.Client(base_url=url) as client:
            response = client.get("/dashboard/login")
            assert response.status_code == 503
            assert "TIDINGS_SECRET_KEY" in response.text
            assert client.get("/healthz").status_code == 200
    finally:
        app.close()


def test_the_recipient_page_shows_every_preference_change(
    client: httpx.Client, app: Tidings
) -> None:
    app.notification_type("billing", channels=("email",))
    app.recipients.upsert("u-pref", email="p@example.com")
    app.preferences.set("u-pref", type="billing", channel="email", enabled=False)
    app.preferences.set(
        "u-pref", type=None, channel="email", enabled=True, actor="recipient",
        origin="one-click unsubscribe (203.0.113.7)",
    )  # fmt: skip
    app.preferences.note("u-pref", {"field": "timezone", "value": "Asia/Ho_Chi_Minh"},
                         actor="recipient", origin="preference centre")  # fmt: skip
    login(client)
    page = client.get("/dashboard/recipients/u-pref").text
    assert "Preference changes" in page
    assert "billing · email: <strong>off</strong>" in page
    assert "one-click unsubscribe (203.0.113.7)" in page
    assert "timezone → Asia/Ho_Chi_Minh" in page
    log = page[page.index("Preference changes") :]
    assert log.index("timezone →") < log.index("billing · email")  # newest first
