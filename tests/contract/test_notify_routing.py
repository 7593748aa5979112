"""Routing: the status of each channel's delivery under every condition, templates in
the recipient's language, template errors, and deferral to the end of quiet hours."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import START
from tests.contract.notify_support import notify_app
from tidings import Context, RunStatus, Tidings
from tidings.records import NotifyResult
from tidings.testing import TestEngine

TOKEN = "ExponentPushToken[device-1]"

# condition -> (type, {channel: status as routed}); START is 09:00 UTC.
TABLE: dict[str, tuple[str, dict[str, str]]] = {
    "opted in": ("alert", {"in_app": "delivered", "email": "pending", "push": "pending",
                           "sms": "pending"}),
    "opted out": ("alert", {"in_app": "suppressed", "email": "suppressed",
                            "push": "suppressed", "sms": "suppressed"}),
    "critical + opted out": ("urgent", {"in_app": "delivered", "email": "pending",
                                        "push": "pending", "sms": "pending"}),
    "quiet hours": ("alert", {"in_app": "delivered", "email": "pending", "push": "deferred",
                              "sms": "deferred"}),
    "critical in quiet hours": ("urgent", {"in_app": "delivered", "email": "pending",
                                           "push": "pending", "sms": "pending"}),
    "no address": ("alert", {"in_app": "delivered", "email": "skipped", "push": "pending",
                             "sms": "skipped"}),
    "no token": ("alert", {"in_app": "delivered", "email": "pending", "push": "skipped",
                           "sms": "pending"}),
    "suppressed address": ("alert", {"in_app": "delivered", "email": "suppressed",
                                     "push": "suppressed", "sms": "suppressed"}),
}  # fmt: skip
SENT_LATER = {"pending": "sent"}


def _prepare(app: Tidings, condition: str) -> None:
    has_address = condition != "no address"
    app.recipients.upsert(
        "u1",
        email="u1@example.com" if has_address else None,
        phone="+84901234567" if has_address else None,
        timezone="Asia/Ho_Chi_Minh",
        # 09:00 UTC is 16:00 in Ho Chi Minh City
        quiet_hours=("15:00", "18:00") if "quiet" in condition else None,
    )
    if condition != "no token":
        app.recipients.add_push_token("u1", TOKEN, platform="ios")
    if "opted out" in condition:
        for channel in ("in_app", "email", "push", "sms"):
            app.preferences.set("u1", type=None if channel == "sms" else "alert",
                                channel=channel, enabled=False)  # fmt: skip
            app.preferences.set("u1", type="urgent", channel=channel, enabled=False)
    if condition == "suppressed address":
        app.suppressions.add("email", "u1@example.com")
        app.suppressions.add("sms", "+84901234567")
        app.suppressions.add("push", TOKEN)


@pytest.mark.parametrize("condition", list(TABLE))
async def test_routing_table(
    make_app: Callable[..., Tidings], tmp_path: Path, condition: str
) -> None:
    app = notify_app(make_app, tmp_path)
    type_id, expected = TABLE[condition]
    _prepare(app, condition)

    @app.task()
    async def send(ctx: Context) -> dict[str, Any]:
        return (await ctx.notify(type_id, to="u1", data={"name": "An"})).to_json()

    async with TestEngine(app, start=START) as t:
        h = await t.trigger(send)
        run = await t.get_run(h.id)
        assert run.status is RunStatus.COMPLETED
        routed = NotifyResult.from_json(run.result)
        assert {d.channel: d.status for d in routed.deliveries} == expected
        logged = {d.channel: d.status for d in app.deliveries.list(to="u1")}
        assert logged == {c: SENT_LATER.get(s, s) for c, s in expected.items()}
        captured = {(e.channel, e.to) for e in t.outbox.list(to="u1")}
        address = {"email": "u1@example.com", "push": TOKEN, "sms": "+84901234567"}
        sent = {c for c, s in expected.items() if s == "pending"}
        assert captured == {(c, address[c]) for c in sent}
        assert len(app.inbox.list("u1")) == (expected["in_app"] == "delivered")
        # deferred ones go out when the quiet hours end (18:00 local = 11:00 UTC)
        await t.advance(timedelta(hours=1, minutes=59))
        assert {d.channel for d in app.deliveries.list(to="u1", status="deferred")} == {
            c for c, s in expected.items() if s == "deferred"
        }
        await t.advance(timedelta(minutes=1))
        assert app.deliveries.list(to="u1", status="deferred") == []
        late = [e for e in t.outbox.list(to="u1") if e.created_at and e.created_at > START]
        assert {e.channel for e in late} == {c for c, s in expected.items() if s == "deferred"}
        assert all(e.created_at == START + timedelta(hours=2) for e in late)


async def test_reasons_are_recorded(make_app: Callable[..., Tidings], tmp_path: Path) -> None:
    app = notify_app(make_app, tmp_path)
    app.recipients.upsert("u1", quiet_hours=("08:00", "10:00"))
    app.preferences.set("u1", type="alert", channel="in_app", enabled=False)
    async with TestEngine(app, start=START) as t:
        app.notify("alert", to="u1", data={"name": "An"})
        await t.run_due()
        app.recipients.upsert("u1", phone="+84901234567")
        h = app.notify("alert", to="u1", data={"name": "An"}, channels=["sms"])
        await t.run_due()
        assert h.result().deliveries[0].reason == "quiet hours"
    reasons = {(d.channel, d.status, d.reason) for d in app.deliveries.list(to="u1")}
    assert reasons >= {
        ("in_app", "suppressed", "opted out"),
        ("email", "skipped", "the recipient has no email address"),
        ("push", "skipped", "the recipient has no active push token"),
        ("sms", "skipped", "the recipient has no phone number"),
        ("sms", "deferred", "quiet hours"),
    }


async def test_locale_falls_back_per_file_from_vi_to_en(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    app = notify_app(make_app, tmp_path)
    app.recipients.upsert("u1", email="u1@example.com", phone="+84901234567", locale="vi")
    app.recipients.add_push_token("u1", TOKEN)
    async with TestEngine(app, start=START) as t:
        app.notify("alert", to="u1", data={"name": "Chi"})
        await t.run_due()
        by_channel = {e.channel: e for e in t.outbox.list(to="u1")}
    item = app.inbox.list("u1")[0]
    assert item.body == "Kết quả của Chi đã sẵn sàng."  # vi file
    assert item.title == "Hello Chi"  # no vi title: en
    assert by_channel["email"].subject == "Results for Chi"
    assert by_channel["email"].html == "<p>Dear Chi, your results are ready.</p>"
    assert by_channel["push"].body == "Open the app, Chi."
    assert by_channel["sms"].text == "Kết quả xét nghiệm của Chi đã có."
    assert all(e.locale == "vi" for e in by_channel.values())
    sms = app.deliveries.list(to="u1", channel="sms")[0].sms
    assert sms is not None
    assert sms["encoding"] == "UCS-2"  # Vietnamese diacritics are not GSM-7
    assert sms["segments"] == 1
    assert sms["units"] == len("Kết quả xét nghiệm của Chi đã có.")


async def test_a_template_error_fails_that_delivery_and_the_run_carries_on(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    app = notify_app(make_app, tmp_path)
    app.recipients.upsert("u1", email="u1@example.com")
    after: list[str] = []

    @app.task()
    async def send(ctx: Context) -> None:
        await ctx.notify("broken", to="u1", data={"name": "An"})  # email.txt uses {{ code }}
        after.append(await ctx.step("next", lambda: "ran"))

    async with TestEngine(app, start=START) as t:
        h = await t.trigger(send)
        run = await t.get_run(h.id)
    assert run.status is RunStatus.COMPLETED
    assert after == ["ran"]
    email = app.deliveries.list(to="u1", channel="email")[0]
    assert email.status == "failed"
    assert email.error is not None
    assert "broken/en/email.txt" in email.error
    assert "code" in email.error
    assert app.deliveries.list(to="u1", channel="in_app")[0].status == "delivered"
    assert app.outbox.list() == []


async def test_a_missing_template_fails_the_delivery_with_a_clear_message(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    app = notify_app(make_app, tmp_path)
    app.notification_type("undocumented", channels=("sms",))
    app.recipients.upsert("u1", phone="+84901234567")
    async with TestEngine(app, start=START) as t:
        h = app.notify("undocumented", to="u1")
        await t.run_due()
        (delivery,) = h.result().deliveries
    assert delivery.status == "failed"
    assert delivery.error is not None
    assert "sms.txt" in delivery.error
