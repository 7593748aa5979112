"""The in-app inbox: pages, isolation between recipients, read state, the change feed,
and inbox tokens."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import START
from tests.contract.notify_support import notify_app
from tidings import Tidings
from tidings.errors import ConfigError, UnknownRecipientError, ValidationError
from tidings.notify.tokens import InvalidTokenError
from tidings.testing import TestEngine


async def _fill(app: Tidings, t: TestEngine, recipient: str, count: int) -> None:
    for i in range(count):
        app.notify("alert", to=recipient, data={"name": f"{recipient}-{i}"}, channels=["in_app"])
        await t.run_due()
        await t.advance(timedelta(seconds=1))


async def test_pages_newest_first_and_recipients_see_only_their_own(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    app = notify_app(make_app, tmp_path)
    app.recipients.upsert("u1")
    app.recipients.upsert("u2")
    async with TestEngine(app, start=START) as t:
        await _fill(app, t, "u1", 7)
        await _fill(app, t, "u2", 2)
    seen: list[str | None] = []
    cursor, pages = None, 0
    while True:
        page = app.inbox.page("u1", cursor=cursor, limit=3)
        seen.extend(item.body for item in page.items)
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert pages == 3
    assert seen == [f"Your results are ready, u1-{i}." for i in reversed(range(7))]
    assert [i.body for i in app.inbox.list("u2")] == [
        "Your results are ready, u2-1.",
        "Your results are ready, u2-0.",
    ]
    assert app.inbox.unread_count("u1") == 7
    assert app.inbox.unread_count("u2") == 2
    with pytest.raises(ValidationError, match="cursor"):
        app.inbox.page("u1", cursor="not-a-cursor!")
    with pytest.raises(ValidationError, match="limit"):
        app.inbox.page("u1", limit=0)


async def test_read_archive_and_the_change_feed(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    app = notify_app(make_app, tmp_path)
    app.recipients.upsert("u1")
    app.recipients.upsert("u2")
    async with TestEngine(app, start=START) as t:
        await _fill(app, t, "u1", 4)
        await _fill(app, t, "u2", 1)
        newest, second, third, oldest = app.inbox.list("u1")
        other = app.inbox.list("u2")[0]
        # another recipient's id is ignored: no one marks someone else's inbox
        assert app.inbox.mark_read("u1", [newest.id, other.id]) == 1
        assert app.inbox.mark_read("u1", [newest.id]) == 0
        assert app.inbox.unread_count("u2") == 1
        assert [i.id for i in app.inbox.list("u1", unread_only=True)] == [
            second.id, third.id, oldest.id,
        ]  # fmt: skip
        assert app.inbox.archive("u1", [third.id]) == 1
        assert [i.id for i in app.inbox.list("u1")] == [newest.id, second.id, oldest.id]
        assert [i.id for i in app.inbox.list("u1", archived=True)] == [third.id]
        assert app.inbox.mark_all_read("u1") == 2
        assert app.inbox.unread_count("u1") == 0
    feed = app.inbox.changes_since("u1")
    assert [c.seq for c in feed] == list(range(1, 9))
    assert [c.kind for c in feed] == ["created"] * 4 + ["read", "archived", "read", "read"]
    assert {c.item_id for c in feed[-2:]} == {second.id, oldest.id}
    assert app.inbox.changes_since("u1", 6) == feed[6:]
    assert [c.seq for c in app.inbox.changes_since("u2")] == [1]
    with pytest.raises(ValidationError, match="after_seq"):
        app.inbox.changes_since("u1", -1)


async def test_deleting_a_recipient_empties_their_inbox_and_keeps_the_log(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    app = notify_app(make_app, tmp_path)
    app.recipients.upsert("u1")
    async with TestEngine(app, start=START) as t:
        await _fill(app, t, "u1", 2)
    assert app.recipients.delete("u1")
    assert app.inbox.list("u1") == []
    assert app.inbox.changes_since("u1") == []
    assert len(app.deliveries.list(to="u1", channel="in_app")) == 2


def test_inbox_tokens_name_one_recipient_in_one_environment(
    make_app: Callable[..., Tidings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TIDINGS_SECRET_KEY", raising=False)
    app = notify_app(make_app, tmp_path)
    app.recipients.upsert("u1")
    token = app.inbox_token("u1", ttl=timedelta(minutes=5))
    assert app.verify_inbox_token(token) == "u1"
    # a second process on the same database agrees on the generated secret
    other = make_app()
    assert other.verify_inbox_token(token) == "u1"
    staging = make_app(environment="staging")
    with pytest.raises(InvalidTokenError):
        staging.verify_inbox_token(token)
    with pytest.raises(UnknownRecipientError):
        app.inbox_token("ghost")
    keyed = make_app(secret_key="k" * 32)
    with pytest.raises(InvalidTokenError):
        keyed.verify_inbox_token(token)
    production = make_app(environment="production")
    with pytest.raises(ConfigError, match="TIDINGS_SECRET_KEY"):
        production.inbox_token("u1")
    monkeypatch.setenv("TIDINGS_SECRET_KEY", "s" * 32)
    assert make_app(environment="production").inbox_token("u1")
