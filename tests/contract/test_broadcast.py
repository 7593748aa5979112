"""Topics and broadcasts, on both stores: subscriptions (bulk, idempotent, paged, bad
input), broadcasts to a topic or a list, and the guard of the batched pipeline: every
recipient of a 5,000-recipient broadcast is routed exactly as a one-by-one notify
routes it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import START
from tests.contract.notify_support import ALL, notify_app
from tidings import (
    BroadcastHandle,
    Context,
    RunStatus,
    Tidings,
    Topic,
    UnknownBroadcastError,
    UnknownRecipientError,
    ValidationError,
)
from tidings.records.notify import Delivery
from tidings.testing import TestEngine


def _people(app: Tidings, n: int, prefix: str = "u") -> list[str]:
    ids = [f"{prefix}{i:05d}" for i in range(n)]
    for rid in ids:
        app.recipients.upsert(rid, email=f"{rid}@example.com")
    return ids


# -- topics ----------------------------------------------------------------------------
def test_subscribe_is_bulk_idempotent_and_paged(app: Tidings) -> None:
    ids = _people(app, 25)
    app.topics.subscribe("providers:imaging", ids[:20])
    app.topics.subscribe("providers:imaging", ids[10:25])  # overlap: no error, no repeat
    app.topics.subscribe(Topic("providers:lab"), ids[:2])
    seen: list[str] = []
    cursor = None
    while True:
        page = app.topics.subscribers("providers:imaging", limit=10, cursor=cursor)
        seen += page.subscribers
        if page.cursor is None:
            break
        cursor = page.cursor
    assert seen == ids
    assert app.topics.of(ids[0]) == ["providers:imaging", "providers:lab"]
    assert app.topics.unsubscribe("providers:imaging", [ids[0], "nobody"]) == 1
    assert app.topics.unsubscribe("providers:imaging", [ids[0]]) == 0
    assert app.topics.of(ids[0]) == ["providers:lab"]
    assert app.topics.list() == [("providers:imaging", 24), ("providers:lab", 2)]
    assert app.topics.delete("providers:imaging") == 24
    assert app.topics.subscribers("providers:imaging").subscribers == ()


def test_bad_topic_input_changes_nothing(app: Tidings) -> None:
    ids = _people(app, 3)
    app.topics.subscribe("t", ids[:1])
    with pytest.raises(UnknownRecipientError, match=r"'ghost'"):
        app.topics.subscribe("t", [ids[1], "ghost", ids[2]])
    assert app.topics.subscribers("t").subscribers == (ids[0],)
    for bad in ("", "x" * 201, "line\nbreak", "nul\x00"):
        with pytest.raises(ValidationError, match="topic name"):
            app.topics.subscribe(bad, ids)
    with pytest.raises(ValidationError, match="list of recipient ids"):
        app.topics.subscribe("t", "u00001")
    with pytest.raises(ValidationError, match="recipient id"):
        app.topics.subscribe("t", ["bad/id"])
    assert app.topics.of(ids[1]) == []


def test_deleting_a_recipient_removes_its_subscriptions(app: Tidings) -> None:
    ids = _people(app, 2)
    app.topics.subscribe("a", ids)
    app.topics.subscribe("b", ids[:1])
    assert app.recipients.delete(ids[0])
    assert app.topics.of(ids[0]) == []
    assert app.topics.list() == [("a", 1)]


# -- broadcasts ------------------------------------------------------------------------
async def test_broadcast_to_a_topic_reaches_each_subscriber_once(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    app = notify_app(make_app, tmp_path)
    ids = _people(app, 1203)  # three pages, the last one short
    app.topics.subscribe("everyone", ids)
    async with TestEngine(app, start=START) as t:
        handle = app.notify(
            "alert", to=Topic("everyone"), data={"name": "An"}, channels=["in_app", "email"]
        )
        assert isinstance(handle, BroadcastHandle)
        assert handle.created
        again = app.notify("alert", to=Topic("everyone"), data={"name": "An"}, dedup_key=handle.id)
        assert again.created
        await t.run_due()
        progress = app.broadcasts.get(handle.id)
        assert (progress.total, progress.routed, progress.finished) == (1203, 1203, True)
        assert progress.counts == {"in_app": {"delivered": 1203}, "email": {"sent": 1203}}
        emails = app.store.notifications.outbox(None, None, "email", 5000)
        assert sorted(e.recipient_id for e in emails) == sorted(ids * 2)  # two broadcasts
        assert len(app.inbox.list(ids[0])) == 2
        # the same dedup key again: the same broadcast, nothing sent
        same = app.notify("alert", to=Topic("everyone"), data={"name": "An"}, dedup_key=handle.id)
        assert (same.id, same.created) == (again.id, False)


async def test_list_duplicates_once_and_empty_topic_completes(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    app = notify_app(make_app, tmp_path)
    ids = _people(app, 3)
    async with TestEngine(app, start=START) as t:
        listed = app.notify("alert", to=[ids[0], ids[1], ids[0]], data={"name": "An"},
                            channels=["in_app"])  # fmt: skip
        empty = app.notify("alert", to=Topic("nobody-here"), data={"name": "An"})
        await t.run_due()
        assert app.broadcasts.get(listed.id).routed == 2
        assert len(app.inbox.list(ids[0])) == 1
        done = app.broadcasts.get(empty.id)
        assert (done.total, done.routed, done.finished, done.counts) == (0, 0, True, {})
        assert (await t.get_run(empty.run_id)).status is RunStatus.COMPLETED
    with pytest.raises(UnknownRecipientError, match="'ghost'"):
        app.notify("alert", to=[ids[0], "ghost"], data={"name": "An"})
    with pytest.raises(UnknownBroadcastError):
        app.broadcasts.get("bct_nope")
    assert len(app.broadcasts.list()) == 2


async def test_a_broadcasts_tags_are_on_every_inbox_item(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    app = notify_app(make_app, tmp_path)
    ids = _people(app, 3)
    async with TestEngine(app, start=START) as t:
        app.notify("alert", to=ids, data={"name": "An"}, channels=["in_app"], tags=["billing"])
        app.notify("alert", to=ids, data={"name": "An"}, channels=["in_app"])
        await t.run_due()
    for rid in ids:
        assert len(app.inbox.list(rid)) == 2
        assert [i.tags for i in app.inbox.list(rid, tags=["billing"])] == [("billing",)]
    with pytest.raises(ValidationError, match="tags"):
        app.notify("alert", to=ids, data={"name": "An"}, tags="billing")


async def test_ctx_notify_to_a_topic_is_memoized(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    app = notify_app(make_app, tmp_path)
    ids = _people(app, 4)
    app.topics.subscribe("team", ids)

    @app.task()
    async def announce(ctx: Context) -> dict[str, Any]:
        handle = await ctx.notify("alert", to=Topic("team"), data={"name": "An"},
                                  channels=["in_app"])  # fmt: skip
        await ctx.sleep(60)  # the next execution replays the notify
        return handle.to_json()

    async with TestEngine(app, start=START) as t:
        h = await t.trigger(announce)
        await t.advance(61)
        run = await t.get_run(h.id)
        assert run.status is RunStatus.COMPLETED
        assert len(app.broadcasts.list()) == 1
        assert app.broadcasts.get(run.result["broadcast_id"]).routed == 4
        assert all(len(app.inbox.list(r)) == 1 for r in ids)


# -- the guard: a broadcast routes each recipient as a single notify does --------------
ZONES = ("UTC", "Asia/Ho_Chi_Minh", "America/New_York", "Europe/Berlin", "Asia/Tokyo")
QUIET = (None, ("08:00", "10:00"), ("15:00", "18:00"), ("22:00", "07:00"), ("04:00", "05:00"))


def _population(app: Tidings, n: int) -> list[str]:
    """Mixed preferences, opt-outs, suppressions, quiet hours in several timezones,
    locales and missing addresses."""
    ids = [f"p{i:05d}" for i in range(n)]
    for i, rid in enumerate(ids):
        app.recipients.upsert(
            rid,
            email=None if i % 7 == 0 else f"{rid}@example.com",
            phone=None if i % 5 == 0 else f"+8490{i:07d}",
            locale=(None, "en", "vi", "fr")[i % 4],
            timezone=ZONES[i % len(ZONES)],
            quiet_hours=QUIET[(i // 3) % len(QUIET)],
        )
        if i % 3 != 0:
            app.recipients.add_push_token(rid, f"ExponentPushToken[{rid}]")
        if i % 11 == 0:
            app.preferences.set(rid, type="alert", channel="email", enabled=False)
        if i % 13 == 0:
            app.preferences.set(rid, type=None, channel="push", enabled=False)
        if i % 17 == 0:
            app.preferences.set(rid, type=None, channel="sms", enabled=False)
            app.preferences.set(rid, type="alert", channel="sms", enabled=True)  # own wins
        if i % 19 == 0:
            app.preferences.set(rid, type="alert", channel="in_app", enabled=False)
        if i % 23 == 0 and i % 7:
            app.suppressions.add("email", f"{rid}@example.com")
        if i % 29 == 0 and i % 3:
            app.suppressions.add("push", f"ExponentPushToken[{rid}]")
    return ids


def _outcome(d: Delivery) -> tuple[Any, ...]:
    status = {"pending": "sent"}.get(d.status, d.status)  # sent since by the outbox
    sms = json.dumps(d.sms, sort_keys=True)
    return (d.channel, status, d.reason, d.addresses, d.locale, d.send_at, d.subject,
            d.html, d.text, d.title, d.body, sms, d.critical)  # fmt: skip


@pytest.mark.timeout(900)  # 6,000 single notifies beside it, on a shared machine
@pytest.mark.parametrize("type_id", ["alert", "urgent"])
async def test_broadcast_routes_every_recipient_as_one_by_one_notify(
    make_app: Callable[..., Tidings], tmp_path: Path, type_id: str
) -> None:
    n = 5000 if type_id == "alert" else 1000
    app = notify_app(make_app, tmp_path)
    ids = _population(app, n)
    data = {"name": "Lan"}
    async with TestEngine(app, start=START) as t:
        handle = app.notify(type_id, to=ids, data=data)
        await t.run_due()
        progress = app.broadcasts.get(handle.id)
        assert (progress.total, progress.routed, progress.finished) == (n, n, True)
        one_by_one = {
            rid: app.notifications.send(type_id, rid, data, None, f"single/{rid}", None)
            for rid in ids
        }
    singles = {r.notification_id for r in one_by_one.values()}
    logged = app.store.notifications.deliveries(None, type_id, None, None, 10 * n)
    assert len(logged) == 2 * len(ALL) * n
    broadcast: dict[str, set[tuple[Any, ...]]] = {}
    single: dict[str, set[tuple[Any, ...]]] = {}
    for d in logged:
        (single if d.notification_id in singles else broadcast).setdefault(d.to, set()).add(
            _outcome(d)
        )
    assert broadcast.keys() == single.keys() == set(ids)
    differing = [rid for rid in ids if broadcast[rid] != single[rid]]
    assert differing == [], (differing[:3], [(broadcast[r], single[r]) for r in differing[:1]])
    # the conditions all occurred
    statuses = {o[1] for outcomes in broadcast.values() for o in outcomes}
    expected = {"delivered", "sent", "skipped", "suppressed"}
    assert statuses >= (expected | {"deferred"} if type_id == "alert" else expected)
    # every sent message was captured once, and in-app items match
    counts = app.broadcasts.get(handle.id).counts
    sent = sum(by.get("sent", 0) for by in counts.values())
    captured = app.store.notifications.outbox(None, None, None, 10 * n)
    broadcast_ids = {d.id for d in logged if d.notification_id not in singles}
    assert len([e for e in captured if e.delivery_id in broadcast_ids]) == sent
