"""Issue 22, findings 5-7 on the dashboard: sessions end with sign-out, key revocation
and a password change; sign-in is throttled with fresh tokens; no cookie or form field
a client sends makes a 500."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from tests.integration.test_dashboard_http import HASH, PASSWORD, build_app, csrf, login
from tests.serving import serve
from tidings import Tidings
from tidings.dashboard import dashboard
from tidings.dashboard.auth import Signer, hash_password
from tidings.dashboard.sessions import (
    FREE_ACCOUNT_FAILURES,
    FREE_FAILURES,
    LoginThrottle,
    LoginTokens,
)
from tidings.keys import create_key

pytestmark = pytest.mark.usefixtures("no_secrets_in_logs")  # issue 22, finding 4


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Tidings]:
    a = build_app(tmp_path)
    yield a
    a.close()


def served(app: Tidings, password_hash: str = HASH) -> Starlette:
    return Starlette(
        routes=[Mount("/dashboard", dashboard(app, password_hash=password_hash, secret_key="s1"))]
    )


@pytest.fixture
def url(app: Tidings) -> Iterator[str]:
    with serve(served(app)) as base:
        yield base


def session_cookie(c: httpx.Client) -> str:
    value = c.cookies.get("tidings_session")
    assert value
    return value


def test_signing_out_ends_the_session_even_for_a_saved_cookie(url: str) -> None:
    with httpx.Client(base_url=url) as c:
        assert login(c).status_code == 303
        saved = session_cookie(c)
        token = csrf(c)
        assert c.post("/dashboard/logout", data={"csrf": token}).status_code == 303
    with httpx.Client(base_url=url, cookies={"tidings_session": saved}) as replay:
        assert replay.get("/dashboard/runs").status_code == 303  # to the sign-in form
        refused = replay.post("/dashboard/runs/x/replay", data={"csrf": token})
        assert refused.status_code == 401


def test_revoking_the_key_ends_its_sessions(app: Tidings) -> None:
    key = create_key(app.store, "staging", name="ops", scope="admin", now=datetime.now(UTC))
    with serve(app.asgi()) as base, httpx.Client(base_url=base) as c:
        assert login(c, key.secret).status_code == 303
        assert c.get("/dashboard/runs").status_code == 200
        assert app.store.keys.revoke("staging", key.record.id, datetime.now(UTC))
        assert c.get("/dashboard/runs").status_code == 303
        assert c.get("/dashboard/live", headers={"Accept": "text/event-stream"}).status_code == 401


def test_a_new_password_ends_the_old_password_sessions(app: Tidings) -> None:
    with serve(served(app)) as old, httpx.Client(base_url=old) as c:
        assert login(c).status_code == 303
        cookie = session_cookie(c)
        assert c.get("/dashboard/runs").status_code == 200
    changed = served(app, hash_password("a new password", n=2**10))
    with (
        serve(changed) as new,
        httpx.Client(base_url=new, cookies={"tidings_session": cookie}) as c,
    ):
        assert c.get("/dashboard/runs").status_code == 303


def test_login_is_throttled_per_client_with_retry_after(url: str) -> None:
    with httpx.Client(base_url=url) as c:
        answers = [login(c, "wrong").status_code for _ in range(FREE_FAILURES)]
        throttled = login(c, "wrong")
        even_right = login(c, PASSWORD)
    assert answers == [401] * FREE_FAILURES
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) >= 1
    assert "Too many failed sign-ins" in throttled.text
    assert even_right.status_code == 429  # no password is checked while throttled


def test_every_attempt_needs_a_fresh_login_token(url: str) -> None:
    with httpx.Client(base_url=url) as c:
        form = c.get("/dashboard/login")
        found = re.search(r'name="login_token" value="([^"]+)"', form.text)
        assert found is not None
        token = found.group(1)
        data = {"login_token": token, "secret": "wrong", "next": "/"}
        first = c.post("/dashboard/login", data=data)
        c.cookies.set("tidings_login", token, path="/dashboard")
        reused = c.post("/dashboard/login", data={**data, "secret": PASSWORD})
        again = c.get("/dashboard/login")
    assert first.status_code == 401
    assert reused.status_code == 403
    assert token not in again.text  # each form a new token


def test_the_throttle_counts_accounts_across_clients_and_forgets() -> None:
    now = [1000.0]
    throttle = LoginThrottle(clock=lambda: now[0])
    for n in range(FREE_ACCOUNT_FAILURES):
        assert throttle.retry_after(f"10.0.0.{n}", "password") == 0
        throttle.failed(f"10.0.0.{n}", "password")
    assert throttle.retry_after("10.9.9.9", "password") >= 1  # a new client, same account
    assert throttle.retry_after("10.9.9.9", "keys") == 0
    now[0] += 16 * 60
    assert throttle.retry_after("10.9.9.9", "password") == 0
    tokens = LoginTokens(clock=lambda: now[0])
    assert tokens.spend("t1")
    assert not tokens.spend("t1")


@pytest.mark.parametrize(
    "cookie",
    [b"abc.\xe9", b"\xff\xfe", b"a.b.c", b"e30.e30.", b"x" * 4000, b"abc.def=="],
)
def test_any_session_cookie_is_not_signed_in_never_a_500(url: str, cookie: bytes) -> None:
    with httpx.Client(base_url=url) as c:
        for page in ("/dashboard/", "/dashboard/runs", "/dashboard/live"):
            answer = c.get(page, headers={b"Cookie": b"tidings_session=" + cookie})
            assert answer.status_code in (303, 401), (page, answer.status_code)


def test_forged_and_padded_session_cookies_are_refused(url: str) -> None:
    _, other_secret = Signer("s2", "staging").new_session("password")
    _, other_env = Signer("s1", "production").new_session("password")
    _, valid = Signer("s1", "staging").new_session("password")
    with httpx.Client(base_url=url) as c:
        for cookie in (other_secret, other_env, valid + "==", valid + "."):
            c.cookies.set("tidings_session", cookie, path="/dashboard")
            assert c.get("/dashboard/runs").status_code == 303


@pytest.mark.parametrize("field", ["\u00e9t\u00e9", "\ud800", "x" * 10_000, ""])
def test_any_csrf_or_login_field_is_a_4xx(url: str, field: str) -> None:
    with httpx.Client(base_url=url) as c:
        assert login(c).status_code == 303
        body = "csrf=" + field.encode("utf-8", "surrogatepass").hex()
        for raw in (body.encode(), b"csrf=%C3%A9t%C3%A9", b"csrf=%ED%A0%80", b"csrf=\xe9"):
            answer = c.post(
                "/dashboard/runs/x/replay",
                content=raw,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            assert answer.status_code == 403, answer.text
        login_form = c.post(
            "/dashboard/login",
            content=b"login_token=%ED%A0%80&secret=\xe9",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert login_form.status_code == 403


def test_dashboard_forms_refuse_json_past_the_parser(app: Tidings, url: str) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    with httpx.Client(base_url=url, timeout=30) as c:
        assert login(c).status_code == 303
        token = csrf(c)
        trigger = c.post("/dashboard/tasks/charge/trigger", data={"csrf": token, "payload": deep})
        event = c.post("/dashboard/events/send", data={"csrf": token, "name": "x", "data": deep})
    assert trigger.status_code < 500, trigger.text[:200]
    assert event.status_code < 500, event.text[:200]
    assert app.list_runs() == []
