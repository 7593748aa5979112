"""Issue 22, findings 1-3 and 7 at the HTTP door: what tidings accepts it can store, list,
render and replay; what it cannot, it refuses with a 4xx before changing anything."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.server import refused_url
from tests.server.harness import client, new_key, serving
from tests.serving import serve
from tidings import Tidings
from tidings.providers import Resend
from tidings.server.realtime import MAX_STREAMS_PER_RECIPIENT, InboxHub, StreamState

DEEP = "[" * 600 + "]" * 600
LISTINGS = ("/api/v1/runs", "/api/v1/deliveries")
PAGES = ("/", "/runs", "/events", "/tasks", "/deliveries", "/outbox", "/recipients")


def send(c: httpx.Client, method: str, path: str, body: Any) -> httpx.Response:
    """``body`` as JSON with \\u escapes, so lone surrogates travel as valid JSON."""
    content = body if isinstance(body, str) else json.dumps(body)
    return c.request(method, path, content=content, headers={"Content-Type": "application/json"})


def dashboard_login(c: httpx.Client, key: str) -> None:
    form = c.get("/dashboard/login")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert token is not None
    signed = c.post(
        "/dashboard/login", data={"login_token": token.group(1), "secret": key, "next": "/"}
    )
    assert signed.status_code == 303, signed.text


def assert_everything_lists(base: str, admin: str) -> None:
    """Every listing endpoint and dashboard page still answers 200."""
    with client(base, admin) as c:
        for path in LISTINGS:
            answer = c.get(path)
            assert answer.status_code == 200, (path, answer.text)
        dashboard_login(c, admin)
        for page in PAGES:
            answer = c.get(f"/dashboard{page}")
            assert answer.status_code == 200, (page, answer.text[:300])


@pytest.mark.parametrize(
    "body",
    [
        {"payload": {}, "run_at": "0001-01-01T00:00:00+14:00"},
        {"payload": {}, "run_at": "9999-12-31T23:59:59-14:00"},
        {"payload": {}, "run_at": "1969-12-31T23:59:59Z"},
        {"payload": {}, "tags": ["\ud800"]},
        {"payload": {"x": "\ud800"}},
        {"payload": {"\udfff": 1}},
        {"payload": {}, "idempotency_key": "\ud800"},
        {"payload": {}, "concurrency_key": "a\udc00"},
    ],
)
def test_finding_1_and_2_bad_triggers_are_refused_and_change_nothing(
    notify_api: Tidings, notify_url: str, body: dict[str, Any]
) -> None:
    publish, admin = new_key(notify_api, "publish"), new_key(notify_api)
    with client(notify_url, publish) as c:
        answer = send(c, "POST", "/api/v1/tasks/slow/trigger", body)
    assert answer.status_code == 422, answer.text
    field = next(k for k in body if k != "payload") if len(body) > 1 else "payload"
    assert field in answer.text
    assert notify_api.list_runs() == []
    assert_everything_lists(notify_url, admin)


def test_finding_2_deep_payloads_are_refused(notify_api: Tidings, notify_url: str) -> None:
    publish = new_key(notify_api, "publish")
    deep = '{"payload": ' + "[" * 400 + "]" * 400 + "}"
    with client(notify_url, publish) as c:
        nested = c.post(
            "/api/v1/tasks/slow/trigger",
            content=deep,
            headers={"Content-Type": "application/json"},
        )
        at_limit = c.post(
            "/api/v1/tasks/slow/trigger",
            content='{"payload": ' + "[" * 64 + "]" * 64 + "}",
            headers={"Content-Type": "application/json"},
        )
    assert nested.status_code == 422
    assert "64 levels" in nested.json()["error"]["message"]
    assert at_limit.status_code == 201
    assert len(notify_api.list_runs()) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "data": "\ud800"},
        {"name": "x\ud800", "data": {}},
        {"name": "x", "id": "\udfff", "data": {}},
        {"name": "x", "data": {}, "ts": "0001-01-01T00:00:00+14:00"},
        {"name": "x", "payload": {}, "timestamp": "9999-12-31T23:59:59-14:00"},
        {"event": {"name": "x"}, "options": {"deliverAt": "9999-12-31T23:59:59-14:00"}},
        {"event": {"name": "x", "payload": {"a": "\ud800"}}},
    ],
)  # fmt: skip
def test_finding_3_bad_events_are_refused_before_any_run_starts(
    notify_api: Tidings, notify_url: str, body: dict[str, Any]
) -> None:
    publish, admin = new_key(notify_api, "publish"), new_key(notify_api)
    with client(notify_url, publish) as c:
        answer = send(c, "POST", "/api/v1/events", body)
        inngest = send(c, "POST", f"/e/{publish}", [{"name": "ok", "data": {}}, body])
    assert answer.status_code == 422, answer.text
    if "data" in body:  # Inngest's shape: a batch with one bad event sends none
        assert inngest.status_code == 422, inngest.text
        assert notify_api.store.dashboard.list_events(None, None, 10) == []
    assert notify_api.list_runs() == []
    assert_everything_lists(notify_url, admin)


def test_finding_3_deep_event_data_is_refused(notify_api: Tidings, notify_url: str) -> None:
    publish = new_key(notify_api, "publish")
    with client(notify_url, publish) as c:
        answer = c.post(
            "/api/v1/events",
            content='{"name": "user.registered", "data": ' + DEEP + "}",
            headers={"Content-Type": "application/json"},
        )
    assert answer.status_code == 422, answer.text
    assert notify_api.list_runs() == []


def test_recipient_and_notification_data_are_checked(notify_api: Tidings, notify_url: str) -> None:
    admin = new_key(notify_api)
    with client(notify_url, admin) as c:
        recipient = send(c, "PUT", "/api/v1/recipients/carol", {"data": {"n": "\ud800"}})
        deep = c.put(
            "/api/v1/recipients/carol",
            content='{"data": {"n": ' + DEEP + "}}",
            headers={"Content-Type": "application/json"},
        )
        notify = send(
            c,
            "POST",
            "/api/v1/notifications",
            {"type": "alert", "to": "alice", "data": {"x": "\udc00"}},
        )
    assert recipient.status_code == 422, recipient.text
    assert deep.status_code == 422, deep.text
    assert notify.status_code == 422, notify.text
    assert notify_api.store.dashboard.list_recipients("carol", None, 10) == []
    assert_everything_lists(notify_url, admin)


@pytest.mark.parametrize(
    "cursor",
    [
        base64.urlsafe_b64encode(json.dumps(["2026-01-01T00:00:00+00:00", "\ud800"]).encode())
        .decode()
        .rstrip("="),
        base64.urlsafe_b64encode(b'["0001-01-01T00:00:00+14:00", "r"]').decode(),
        "%%%",
        "\u00e9",
    ],
)
def test_finding_7_bad_run_cursors_answer_422(api_app: Tidings, base_url: str, cursor: str) -> None:
    admin = new_key(api_app)
    with client(base_url, admin) as c:
        answer = c.get("/api/v1/runs", params={"cursor": cursor})
    assert answer.status_code == 422, answer.text
    assert "cursor" in answer.json()["error"]["message"]


def test_finding_7_bad_last_event_ids_answer_422(notify_api: Tidings, notify_url: str) -> None:
    token = notify_api.inbox_token("alice")
    with httpx.Client(base_url=notify_url, timeout=10) as c:
        for last in ("99999999999999999999", "-1", "x", "\u00b2", "\u00e9"):
            answer = c.get(
                "/api/v1/inbox/stream",
                params={"token": token},
                headers={b"Last-Event-ID": last.encode()},
            )
            assert answer.status_code == 422, (last, answer.status_code, answer.text)


def test_a_bad_key_in_the_path_is_a_401_before_the_body_is_read(
    api_app: Tidings, base_url: str
) -> None:
    with client(base_url) as c:
        for path in ("/e/tk_staging_" + "x" * 43, "/api/v1/e/nonsense"):
            answer = send(c, "POST", path, {"name": ["not", "a", "name"]})
            assert answer.status_code == 401, answer.text


def test_finding_7_a_validly_signed_deep_webhook_is_a_4xx(tmp_path: Path) -> None:
    secret = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
    resend = Resend(
        api_key="re_x", sender="a@example.com", base_url=refused_url(), webhook_secret=secret
    )
    app = Tidings(
        f"sqlite:///{tmp_path / 'w.db'}", environment="staging", channels={"email": [resend]}
    )
    try:
        with serving(app) as url, httpx.Client(base_url=url) as c:
            for body in ("[" * 990 + "]" * 990, '{"type": "email.sent", "data": ' + DEEP + "}"):
                raw = body.encode()
                answer = c.post("/webhooks/resend", content=raw, headers=svix_headers(secret, raw))
                assert answer.status_code in (400, 422), answer.text
    finally:
        app.close()


def svix_headers(secret: str, body: bytes) -> dict[str, str]:
    msg_id, stamp = "msg_1", str(int(time.time()))
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "svix-id": msg_id,
        "svix-timestamp": stamp,
        "svix-signature": "v1," + base64.b64encode(signed).decode(),
        "Content-Type": "application/json",
    }


def test_finding_8_open_streams_per_recipient_are_capped(notify_api: Tidings) -> None:
    asgi = notify_api.asgi()
    hub: InboxHub = asgi.state.inbox_hub
    expires = datetime.now(UTC) + timedelta(hours=1)
    for n in range(MAX_STREAMS_PER_RECIPIENT):  # as if open: a client's tabs, or a flood
        hub.streams[f"stm_{n}"] = StreamState(f"stm_{n}", "alice", expires)
    with serve(asgi) as url, httpx.Client(base_url=url, timeout=10) as c:
        refused = c.get("/api/v1/inbox/stream", params={"token": notify_api.inbox_token("alice")})
        with c.stream(
            "GET", "/api/v1/inbox/stream", params={"token": notify_api.inbox_token("bob")}
        ) as other:  # another recipient still gets one
            assert other.status_code == 200
            hub.close_all()
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "5"
    assert "open streams" in refused.json()["error"]["message"]


def test_json_nested_past_the_parser_or_with_huge_numbers_is_a_4xx(
    api_app: Tidings, base_url: str
) -> None:
    publish = new_key(api_app, "publish")
    bodies = [
        '{"payload": ' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"payload": ' + "9" * 5000 + "}",
        '{"payload": {"n": 1e400}}',
    ]
    with client(base_url, publish) as c:
        for body in bodies:
            answer = send(c, "POST", "/api/v1/tasks/slow/trigger", body)
            assert 400 <= answer.status_code < 500, answer.text
    assert api_app.list_runs() == []


@pytest.mark.parametrize(
    "body",
    [
        {"type": "alert", "to": "\ud800"},
        {"type": "alert", "to": ["alice", "b\udfff"]},
        {"type": "alert", "to": {"topic": "t\ud800"}},
    ],
)
def test_text_that_is_not_unicode_in_a_notification_is_refused_by_name(
    notify_api: Tidings, notify_url: str, body: dict[str, Any]
) -> None:
    notify_api.recipients.upsert("alice", email="alice@example.com")
    with client(notify_url, new_key(notify_api)) as c:
        answer = send(c, "POST", "/api/v1/notifications", body)
    assert answer.status_code == 422, answer.text
    assert "unicode" in answer.text.lower()
    assert notify_api.deliveries.list("alice") == []
