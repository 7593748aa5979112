"""tidings.limits, tidings.redaction and email link schemes (issue 22) in isolation, and
the Python API's doors: trigger, send_event, recipients and notify refuse what the
HTTP door refuses, before writing anything."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tidings import Context, Tidings
from tidings.errors import ValidationError
from tidings.limits import (
    MAX_JSON_DEPTH,
    UNREADABLE,
    check_json,
    check_text,
    check_timestamp,
    readable,
)
from tidings.notify.links import safe_links
from tidings.notify.templates import Templates


def nested(levels: int) -> Any:
    return json.loads("[" * levels + "]" * levels)


@pytest.mark.parametrize(
    "when",
    [
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))),
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-14))),
        datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(2026, 1, 1),  # noqa: DTZ001 - naive is refused too
    ],
)
def test_times_outside_1970_to_9999_utc_are_refused_by_name(when: datetime) -> None:
    with pytest.raises(ValidationError, match="run_at"):
        check_timestamp(when, "run_at")


def test_times_at_the_edges_are_accepted() -> None:
    for when in (datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, tzinfo=UTC)):
        assert check_timestamp(when, "t") is when


def test_json_limits() -> None:
    check_json(nested(MAX_JSON_DEPTH), "data")
    with pytest.raises(ValidationError, match=r"data nests .* more than 64 levels"):
        check_json(nested(MAX_JSON_DEPTH + 1), "data")
    with pytest.raises(ValidationError, match="a key in data is not valid Unicode"):
        check_json({"\ud800": 1}, "data")
    with pytest.raises(ValidationError, match="lone surrogate"):
        check_text("ok\udfff", "name")
    check_json({"emoji": "\U0001f600", "n": 10**40, "vi": "bệnh nhân"}, "data")


def test_readable_repairs_without_raising() -> None:
    assert readable({"a": "x"}) == {"a": "x"}
    assert readable(["\ud800"]) == ["\ufffd"]
    deep = readable(nested(400))
    assert UNREADABLE in json.dumps(deep)
    json.dumps(readable({"\udc00": nested(100)})).encode("utf-8")


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Tidings]:
    a = Tidings(f"sqlite:///{tmp_path / 't.db'}", environment="staging", secret_key="s" * 32)

    @a.task(on_event="x")
    async def t(ctx: Context, payload: dict[str, Any]) -> None:
        pass

    yield a
    a.close()


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda a: a.trigger("t", {"k": "\ud800"}), "payload"),
        (lambda a: a.trigger("t", {"k": nested(200)}), "payload"),
        (lambda a: a.trigger("t", {}, tags=["\ud800"]), "tags"),
        (lambda a: a.trigger("t", {}, idempotency_key="\udfff"), "idempotency_key"),
        (lambda a: a.trigger("t", {}, delay=1e300), "delay"),
        (lambda a: a.trigger("t", {}, delay=timedelta(days=3_000_000)), "delay"),
        (lambda a: a.trigger_many("t", [{}, {"k": "\ud800"}]), "payloads\\[1\\]"),
        (lambda a: a.send_event("x", "\ud800"), "data of event"),
        (lambda a: a.send_event("x", nested(600)), "data of event"),
        (lambda a: a.send_event("x\ud800", {}), "event name"),
        # PostgreSQL's text cannot hold NUL: refused on both stores, before any write
        (lambda a: a.send_event("x\x00", {}), "event name"),
        (lambda a: a.send_event("x", {}, id="e\x00"), "event id"),
        (lambda a: a.trigger("t", {}, idempotency_key="k\x00"), "idempotency_key"),
        (lambda a: a.trigger("t", {}, queue="\x00"), "queue"),
        (lambda a: a.send_event("x", {}, ts=datetime(1, 1, 1, tzinfo=UTC)), "event ts"),
        (
            lambda a: a.send_event(
                "x",
                {},
                deliver_at=datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-14))),
            ),
            "deliver_at",
        ),
        (lambda a: a.recipients.upsert("r", data={"n": "\ud800"}), "data of recipient"),
    ],
)
def test_the_python_api_refuses_before_writing(app: Tidings, call: Any, field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        call(app)
    assert app.list_runs() == []
    assert app.store.dashboard.list_events(None, None, 10) == []
    assert app.store.recipients.get("r") is None


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "vbscript:msgbox",
        "data:text/html,<script>",
    ],
)
def test_email_links_keep_only_safe_schemes(tmp_path: Path, url: str) -> None:
    folder = tmp_path / "welcome" / "en"
    folder.mkdir(parents=True)
    (folder / "email.subject").write_text("Hi")
    (folder / "email.html").write_text('<a href="{{ link }}">open</a> <a href="{{ ok }}">ok</a>')
    out = Templates(tmp_path).render(
        "welcome", "email", "en", {"link": url, "ok": "https://example.com/a?b=1&c=2"}
    )
    assert out.html is not None
    assert 'href="#"' in out.html
    assert "script" not in out.html.lower().replace("<a", "")
    assert 'href="https://example.com/a?b=1&amp;c=2"' in out.html


def test_safe_links_handles_every_quoting_and_entity() -> None:
    page = (
        "<a href=javascript:x>1</a><a href='java&#x09;script:x'>2</a>"
        '<img src="cid:logo"><a href="/relative">3</a><a href="#top">4</a>'
        '<a href="mailto:a@b.c">5</a><a HREF = "JAVASCRIPT:x">6</a>'
    )
    out = safe_links(page)
    assert "javascript" not in out.lower()
    assert 'src="cid:logo"' in out
    assert 'href="/relative"' in out
    assert 'href="#top"' in out
    assert 'href="mailto:a@b.c"' in out
