"""Inbox v2 on both stores: seen / read / archived / snoozed, their counts, tags and
filters, the change feed of every state change, and the snooze timer on the virtual
clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import START
from tests.contract.notify_support import notify_app
from tidings import Tidings
from tidings.errors import ValidationError
from tidings.records.notify import InboxCounts
from tidings.testing import TestEngine


async def _send(app: Tidings, t: TestEngine, to: str, name: str, **options: object) -> str:
    app.notify("alert", to=to, data={"name": name}, channels=["in_app"], **options)  # type: ignore[call-overload]
    await t.run_due()
    await t.advance(timedelta(seconds=1))
    return app.inbox.list(to, status="all", limit=1)[0].id


async def test_the_state_machine_and_its_counts(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    app = notify_app(make_app, tmp_path)
    app.recipients.upsert("u1")
    app.recipients.upsert("u2")
    async with TestEngine(app, start=START) as t:
        a = await _send(app, t, "u1", "a")
        b = await _send(app, t, "u1", "b")
        c = await _send(app, t, "u1", "c")
        other = await _send(app, t, "u2", "x")
        assert app.inbox.counts("u1") == InboxCounts(unread=3, unseen=3, archived=0)

        # seen is not read: the badge (unseen) drops, the unread count stays
        assert app.inbox.mark_seen("u1", [a, other]) == 1
        assert app.inbox.counts("u1") == InboxCounts(3, 2, 0)
        assert app.inbox.mark_all_seen("u1") == 2
        assert app.inbox.counts("u1") == InboxCounts(3, 0, 0)
        assert app.inbox.counts("u2") == InboxCounts(1, 1, 0)  # untouched

        # read, unread
        assert app.inbox.mark_read("u1", [b]) == 1
        assert [i.id for i in app.inbox.list("u1", status="unread")] == [c, a]
        assert app.inbox.mark_unread("u1", [b, other]) == 1
        assert app.inbox.mark_unread("u1", [b]) == 0  # already unread: nothing changes
        assert app.inbox.counts("u1").unread == 3

        # archive, unarchive, archive every read one
        assert app.inbox.archive("u1", [c, other]) == 1
        assert [i.id for i in app.inbox.list("u1", status="all")] == [b, a]
        assert [i.id for i in app.inbox.list("u1", status="archived")] == [c]
        assert app.inbox.counts("u1") == InboxCounts(2, 0, 1)
        assert app.inbox.unarchive("u1", [c]) == 1
        assert app.inbox.mark_read("u1", [a, c]) == 2
        assert app.inbox.archive_all_read("u1") == 2
        assert [i.id for i in app.inbox.list("u1", status="all")] == [b]
        assert app.inbox.counts("u1") == InboxCounts(1, 0, 2)
        assert app.inbox.list("u2")
        assert app.inbox.list("u2")[0].archived_at is None

        # snooze: hidden (and out of the counts) until its time, then back unread/unseen
        app.inbox.mark_read("u1", [b])
        until = t.now() + timedelta(hours=1)
        assert app.inbox.snooze("u1", [b, other], until=until) == 1
        assert app.inbox.list("u1", status="all") == []
        assert app.inbox.counts("u1") == InboxCounts(0, 0, 2)
        assert app.inbox.list("u2")[0].snoozed_until is None
        await t.advance(timedelta(minutes=59))
        assert app.inbox.list("u1", status="all") == []
        await t.advance(timedelta(minutes=1))
        back = app.inbox.list("u1", status="unread")
        assert [i.id for i in back] == [b]
        assert back[0].snoozed_until is None
        assert back[0].seen_at is None
        assert app.inbox.counts("u1") == InboxCounts(1, 1, 2)

    kinds = [(c.kind, c.item_id) for c in app.inbox.changes_since("u1")]
    assert kinds == [
        ("created", a), ("created", b), ("created", c),
        ("seen", a), *sorted([("seen", b), ("seen", c)], key=lambda k: k[1]),
        ("read", b), ("unread", b), ("archived", c), ("unarchived", c),
        *sorted([("read", a), ("read", c)], key=lambda k: k[1]),
        *sorted([("archived", a), ("archived", c)], key=lambda k: k[1]),
        ("read", b), ("snoozed", b), ("unsnoozed", b),
    ]  # fmt: skip
    seqs = [c.seq for c in app.inbox.changes_since("u1")]
    assert seqs == list(range(1, len(seqs) + 1))
    # the timer was a run, visible like any other
    timers = app.list_runs(task_id="tidings.inbox.unsnooze")
    assert len(timers) == 1


async def test_a_snooze_moved_later_returns_at_the_later_time(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    app = notify_app(make_app, tmp_path)
    app.recipients.upsert("u1")
    async with TestEngine(app, start=START) as t:
        item = await _send(app, t, "u1", "a")
        app.inbox.snooze("u1", [item], until=t.now() + timedelta(minutes=10))
        app.inbox.snooze("u1", [item], until=t.now() + timedelta(minutes=30))
        await t.advance(timedelta(minutes=15))  # the first timer finds nothing due
        assert app.inbox.list("u1") == []
        await t.advance(timedelta(minutes=15))
        assert [i.id for i in app.inbox.list("u1")] == [item]
    kinds = [c.kind for c in app.inbox.changes_since("u1")]
    assert kinds == ["created", "snoozed", "snoozed", "unsnoozed"]


async def test_tags_and_types_filter_the_listing(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    app = notify_app(make_app, tmp_path)
    app.recipients.upsert("u1")

    @app.task
    async def billing_run(ctx: object, payload: dict[str, str]) -> None:
        await ctx.notify(  # type: ignore[attr-defined]
            "urgent", to="u1", data={"name": "n"}, channels=["in_app"], tags=["billing", "ops"]
        )

    async with TestEngine(app, start=START) as t:
        plain = await _send(app, t, "u1", "plain")
        billed = await _send(app, t, "u1", "billed", tags=("billing",))
        await t.trigger(billing_run, {})
        urgent = app.inbox.list("u1", types=["urgent"])
        assert len(urgent) == 1
        assert urgent[0].tags == ("billing", "ops")
        assert [i.id for i in app.inbox.list("u1", tags=["billing"])] == [urgent[0].id, billed]
        assert [i.id for i in app.inbox.list("u1", tags=["ops"])] == [urgent[0].id]
        assert [i.id for i in app.inbox.list("u1", types=["alert"], tags=["billing"])] == [billed]
        assert [i.id for i in app.inbox.list("u1", types=["alert"])] == [billed, plain]
        assert app.inbox.list("u1", tags=["nothing"]) == []


async def test_bad_input_is_named_and_changes_nothing(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    app = notify_app(make_app, tmp_path)
    app.recipients.upsert("u1")
    async with TestEngine(app, start=START) as t:
        item = await _send(app, t, "u1", "a")
        with pytest.raises(ValidationError, match="timezone-aware"):
            app.inbox.snooze("u1", [item], until=datetime(2030, 1, 1))  # noqa: DTZ001
        with pytest.raises(ValidationError, match="future"):
            app.inbox.snooze("u1", [item], until=t.now() - timedelta(seconds=1))
        with pytest.raises(ValidationError, match="status"):
            app.inbox.list("u1", status="new")
        with pytest.raises(ValidationError, match="ids"):
            app.inbox.archive("u1", item)
        with pytest.raises(ValidationError, match="tag"):
            app.notify("alert", to="u1", data={"name": "a"}, tags=[""])
        with pytest.raises(ValidationError, match="tags"):
            app.notify("alert", to="u1", data={"name": "a"}, tags="billing")
        assert [c.kind for c in app.inbox.changes_since("u1")] == ["created"]
        assert app.list_runs(task_id="tidings.inbox.unsnooze") == []


def test_preference_changes_are_logged(make_app: Callable[..., Tidings], tmp_path: Path) -> None:
    app = notify_app(make_app, tmp_path)
    app.recipients.upsert("u1")
    app.preferences.set("u1", type="alert", channel="email", enabled=False)
    app.preferences.set(
        "u1", type=None, channel="sms", enabled=False, actor="recipient", origin="203.0.113.9"
    )
    app.preferences.note("u1", {"field": "timezone", "value": "Asia/Ho_Chi_Minh"},
                         actor="recipient", origin="preference centre")  # fmt: skip
    newest, middle, oldest = app.preferences.changes("u1")
    assert (oldest.actor, oldest.origin) == ("app", "python")
    assert oldest.change == {"type": "alert", "channel": "email", "enabled": False}
    assert (middle.actor, middle.origin) == ("recipient", "203.0.113.9")
    assert middle.change == {"type": None, "channel": "sms", "enabled": False}
    assert newest.change["field"] == "timezone"
    assert app.preferences.changes("u1", limit=1) == [newest]
    assert app.recipients.delete("u1")
    assert app.preferences.changes("u1") == []
