"""What a newcomer's first mistakes at the HTTP door answer: a payload that does not
match the task's annotation, a body that is not JSON, a curl without Content-Type, an
event nothing listens for, and the favicon every browser asks for."""

from __future__ import annotations

from tests.server.harness import client, new_key
from tidings import Tidings


def test_a_payload_of_the_wrong_type_is_refused_naming_the_type(
    api_app: Tidings, base_url: str
) -> None:
    key = new_key(api_app, "publish")
    with client(base_url, key) as c:
        r = c.post("/api/v1/tasks/welcome/trigger", json={"payload": 5})
    assert r.status_code == 422
    message = r.json()["error"]["message"]
    assert message.startswith("payload of task 'welcome' does not match dict")
    assert "valid dictionary" in message
    assert api_app.list_runs() == []


def test_malformed_json_says_so_with_the_character(api_app: Tidings, base_url: str) -> None:
    key = new_key(api_app, "publish")
    with client(base_url, key) as c:
        r = c.post(
            "/api/v1/tasks/welcome/trigger",
            content=b'{"payload": {"userId": "u1",}}',
            headers={"Content-Type": "application/json"},
        )
    assert r.status_code == 422
    message = r.json()["error"]["message"]
    assert message.startswith("the request body is not valid JSON: ")
    assert "at character 29" in message
    assert "body.29" not in message


def test_a_body_without_content_type_names_the_header(api_app: Tidings, base_url: str) -> None:
    key = new_key(api_app, "publish")
    with client(base_url, key) as c:
        r = c.post(
            "/api/v1/tasks/welcome/trigger",
            content=b'{"payload": {"userId": "u1"}}',
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert r.status_code == 422
    message = r.json()["error"]["message"]
    assert "Content-Type: application/json" in message
    assert "'application/x-www-form-urlencoded'" in message
    assert api_app.list_runs() == []


def test_an_event_nothing_listens_for_comes_back_with_a_warning(
    api_app: Tidings, base_url: str
) -> None:
    key = new_key(api_app, "publish")
    with client(base_url, key) as c:
        heard = c.post("/api/v1/events", json={"name": "user.registered", "payload": {}})
        unheard = c.post("/api/v1/events", json={"name": "user.registred", "payload": {}})
    assert heard.status_code == 200
    assert heard.json()["warning"] is None
    assert unheard.status_code == 200
    assert unheard.json()["runIds"] == []
    assert "nothing listens for event 'user.registred'" in unheard.json()["warning"]


def test_the_favicon_is_served(api_app: Tidings, base_url: str) -> None:
    with client(base_url) as c:
        r = c.get("/favicon.ico")
        svg = c.get("/dashboard/static/favicon.svg")
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/x-icon"
    assert r.content[:4] == b"\x00\x00\x01\x00"  # an ICO header
    assert svg.status_code == 200
    assert b"<svg" in svg.content
