"""Erase and export (issue 18): everything naming one recipient, on both stores.

The erase test reads every table of the test's database, found at run time (sqlite_master
or information_schema), so a table added later is checked without touching this file.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
import psycopg.sql
import pytest

from tests.conftest import PG_SERVER, START
from tests.contract.notify_support import notify_app
from tidings import (
    CancelOn,
    Context,
    RunStatus,
    Singleton,
    Tidings,
    Topic,
    UnknownRecipientError,
)
from tidings.errors import ConfigError, ValidationError
from tidings.testing import TestEngine

WHO = "patient-zq7"
EMAIL = "zq7.patient@example.com"
PHONE = "+84901234567"
TOKEN = "ExponentPushToken[zq7-device]"
OTHER = "other-kx9"
OTHER_EMAIL = "kx9.other@example.com"
NEEDLES = (WHO, EMAIL, PHONE, PHONE[1:], TOKEN)


def rows_of_every_table(database_url: str) -> Iterator[tuple[str, str, str]]:
    """``(table, column, text)`` for every text-holding value of every table."""
    if database_url.startswith("sqlite:///"):
        conn = sqlite3.connect(database_url.removeprefix("sqlite:///"))
        try:
            tables = [r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")]  # fmt: skip
            assert "runs" in tables
            assert "deliveries" in tables
            for table in tables:
                cur = conn.execute(f'SELECT * FROM "{table}"')
                names = [d[0] for d in cur.description]
                for row in cur:
                    yield from _texts(table, names, row)
        finally:
            conn.close()
        return
    schema = parse_qs(urlsplit(database_url).query)["schema"][0]
    with psycopg.connect(PG_SERVER) as pg:
        tables = [r[0] for r in pg.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = %s AND table_type = 'BASE TABLE'", (schema,))]  # fmt: skip
        assert "runs" in tables
        assert "deliveries" in tables
        for table in tables:
            pg_cur = pg.execute(
                psycopg.sql.SQL("SELECT * FROM {}.{}").format(
                    psycopg.sql.Identifier(schema), psycopg.sql.Identifier(table)
                )
            )
            names = [d.name for d in pg_cur.description or ()]
            for row in pg_cur:
                yield from _texts(table, names, row)


def _texts(table: str, names: list[str], row: Any) -> Iterator[tuple[str, str, str]]:
    for name, value in zip(names, row, strict=True):
        if isinstance(value, str):
            yield table, name, value
        elif isinstance(value, bytes):
            yield table, name, value.decode("utf-8", "replace")
        elif isinstance(value, dict | list):  # json / jsonb / arrays
            yield table, name, json.dumps(value, ensure_ascii=False)


def naming(database_url: str, needles: tuple[str, ...]) -> list[tuple[str, str, str]]:
    return [
        (table, column, text[:120])
        for table, column, text in rows_of_every_table(database_url)
        if any(n.lower() in text.lower() for n in needles)
    ]


def _people(app: Tidings) -> None:
    app.recipients.upsert(WHO, email=EMAIL, phone=PHONE, data={"name": "Zq Seven"})
    app.recipients.add_push_token(WHO, TOKEN, platform="ios", device_name="zq7 phone")
    app.preferences.set(WHO, type="alert", channel="sms", enabled=False)
    app.recipients.upsert(OTHER, email=OTHER_EMAIL, data={"name": "Kx Nine"})
    app.topics.subscribe("clinic-news", [WHO, OTHER])
    app.suppressions.add("email", EMAIL)


def _tasks(app: Tidings) -> dict[str, Any]:
    @app.task(
        on_event="patient.registered",
        cancel_on=[CancelOn("patient.left", match={"userId": "userId"})],
        singleton=Singleton(key="userId"),
    )
    async def onboard(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
        who = payload["userId"]
        ctx.logger.info("onboarding %s <%s>", who, payload["email"])
        profile = await ctx.step("profile", lambda: {"id": who, "email": payload["email"]})
        sent = await ctx.notify("alert", to=who, data={"name": profile["id"]})
        await ctx.wait_for_event("patient.confirmed", match={"userId": who}, timeout=3600)
        return {"user": who, "routed": [d.status for d in sent.deliveries]}

    @app.task()
    async def reminder(ctx: Context, payload: dict[str, Any]) -> None:
        await ctx.notify("alert", to=payload["userId"], data={"name": "there"})

    @app.task()
    async def confirm(ctx: Context, payload: dict[str, Any]) -> Any:
        answer = await ctx.ask(
            "alert",
            to=payload["userId"],
            data={"name": "confirm?"},
            actions=("accept", "decline"),
            timeout=timedelta(days=2),
        )
        return None if answer is None else answer.to_json()

    return {"onboard": onboard, "reminder": reminder, "confirm": confirm}


def _app(make_app: Callable[..., Tidings], tmp_path: Path) -> Tidings:
    return notify_app(make_app, tmp_path, recipient_key="userId")


async def test_export_then_erase_leaves_no_row_naming_them(
    make_app: Callable[..., Tidings], tmp_path: Path, database_url: str
) -> None:
    app = _app(make_app, tmp_path)
    tasks = _tasks(app)
    _people(app)
    app.schedules.create("reminder", "0 9 * * *", key=f"remind-{WHO}", payload={"userId": WHO})
    async with TestEngine(app, start=START) as t:
        await t.send_event("patient.registered", {"userId": WHO, "email": EMAIL})
        await t.trigger(tasks["onboard"], {"userId": OTHER, "email": OTHER_EMAIL})
        # a singleton per user: the run the event started, waiting, is the one returned
        h = await t.trigger(tasks["onboard"], {"userId": WHO, "email": EMAIL})
        await t.trigger(tasks["reminder"], {"userId": WHO}, tags=[WHO])
        # two questions to them: one they answered (the run resumed with their answer),
        # one still open
        answered = await t.trigger(tasks["confirm"], {"userId": WHO})
        await t.run_due()
        first = app.store.tokens.open_questions(t.now(), 10)[-1]
        app.answers.answer(first.id, "accept", channel="in_app", by=WHO, data={"note": EMAIL})
        await t.run_due()
        assert (await t.get_run(answered.id)).result["action"] == "accept"
        await t.trigger(tasks["confirm"], {"userId": WHO})
        await t.run_due()
        await app.notify_async("alert", to=Topic("clinic-news"), data={"name": "all"})
        await t.run_due()
        app.send_event("patient.reminded", {"userId": WHO}, deliver_at=t.now() + timedelta(days=1))
        app.inbox.mark_read(WHO, [app.inbox.list(WHO)[0].id])
        got = await t.get_run(h.id)
        assert got.status is RunStatus.WAITING, (got.attempt, got.error, got.created_at, t.now())

        exported = app.recipients.export(WHO)
        before = naming(database_url, NEEDLES)
        erasure = await app.recipients.erase_async(WHO, actor="dpo@clinic")

        left = naming(database_url, NEEDLES)
        assert left == [], f"rows still naming the recipient: {left}"
        # the other recipient is untouched
        assert naming(database_url, (OTHER, OTHER_EMAIL))
        assert app.recipients.get(OTHER).email == OTHER_EMAIL
        assert app.deliveries.list(OTHER)

    # the export held what the database held
    assert exported["recipient"]["email"] == EMAIL
    assert [tk["token"] for tk in exported["push_tokens"]] == [TOKEN]
    assert exported["preferences"][0]["enabled"] is False
    assert exported["preference_changes"][0]["change"]["enabled"] is False
    assert [s["address"] for s in exported["suppressions"]] == [EMAIL]
    assert [tp["topic"] for tp in exported["topics"]] == ["clinic-news"]
    assert any(item["read_at"] for item in exported["inbox_items"])
    assert {d["channel"] for d in exported["deliveries"]} >= {"in_app", "email", "push"}
    assert exported["outbox"]
    assert all(o["recipient_id"] == WHO for o in exported["outbox"])
    assert [b["topic"] for b in exported["broadcasts"]] == ["clinic-news"]
    runs = {r["id"]: r for r in exported["runs"]}
    assert h.id in runs
    assert runs[h.id]["payload"] == {"userId": WHO, "email": EMAIL}
    assert [s["name"] for s in runs[h.id]["steps"]][:2] == ["profile", "alert"]
    assert any(EMAIL in log["message"] for log in runs[h.id]["logs"])
    assert len(exported["runs"]) >= 3  # the event's run, the triggered one, the broadcast's
    assert exported["events"][0]["data"]["userId"] == WHO
    assert exported["scheduled_events"][0]["name"] == "patient.reminded"
    assert exported["schedules"][0]["key"] == f"remind-{WHO}"
    assert sorted(q["action"] or "open" for q in exported["questions"]) == ["accept", "open"]
    assert any(tk["completed_at"] for tk in runs[answered.id]["wait_tokens"])
    json.dumps(exported)  # JSON-ready as it is
    assert {table for table, _, _ in before} >= {"recipients", "runs", "steps", "deliveries"}

    # the audit: who, when, rows per table, and nothing about the person
    assert erasure.actor == "dpo@clinic"
    assert erasure.erased_at == START
    assert erasure.counts["recipients"] == 1
    assert erasure.counts["deliveries"] >= 4
    assert erasure.counts["runs"] >= 2
    assert erasure.counts["schedules"] == 1
    # the run's cancel key, singleton gate and event wait named them, redacted in place
    assert erasure.counts["run_cancel_keys"] == 1
    assert erasure.counts["flow_gates"] == 1
    assert erasure.counts["event_waits"] == 1
    audit = app.recipients.erasures()
    assert audit == [erasure]
    assert WHO not in json.dumps(audit[0].to_json())
    # deliveries are kept, anonymised, for counts
    kept = app.deliveries.list(f"erased:{erasure.id}")
    assert len(kept) == erasure.counts["deliveries"]
    assert all(d.addresses == () and d.subject is None for d in kept)
    with pytest.raises(UnknownRecipientError):
        app.recipients.get(WHO)


async def test_erasing_with_a_run_in_flight_skips_its_later_notifications(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    app = _app(make_app, tmp_path)
    app.recipients.upsert(WHO, email=EMAIL)

    @app.task()
    async def care_plan(ctx: Context, payload: dict[str, Any]) -> list[str]:
        first = await ctx.notify("alert", to=payload["userId"], data={"name": "A"}, name="first")
        await ctx.sleep(timedelta(hours=1))
        later = await ctx.notify("alert", to=payload["userId"], data={"name": "B"}, name="later")
        direct = await ctx.notify("alert", to=WHO, data={"name": "C"}, name="direct")
        return [
            *(f"first {d.channel} {d.status}" for d in first.deliveries),
            *(f"later {d.channel} {d.status} {d.reason}" for d in later.deliveries),
            *(f"direct {d.channel} {d.status} {d.reason}" for d in direct.deliveries),
        ]

    async with TestEngine(app, start=START) as t:
        h = await t.trigger(care_plan, {"userId": WHO})
        await t.run_due()
        assert (await t.get_run(h.id)).status is RunStatus.WAITING
        erasure = app.recipients.erase(WHO)
        await t.advance(timedelta(hours=1))
        run = await t.get_run(h.id)
    assert run.status is RunStatus.COMPLETED, run.error
    lines = run.result
    assert "first email pending" in lines
    assert "first in_app delivered" in lines
    for label in ("later", "direct"):
        assert {f"{label} {c} skipped erased" for c in ("in_app", "email", "push", "sms")} <= set(
            lines
        )
    marker = f"erased:{erasure.id}"
    assert all(d.to == marker for d in app.deliveries.list(marker))
    assert WHO not in json.dumps(run.payload)
    assert marker in json.dumps(run.payload)


def test_unknown_recipient_is_an_error_that_changes_nothing(
    make_app: Callable[..., Tidings], tmp_path: Path, database_url: str
) -> None:
    app = _app(make_app, tmp_path)
    app.recipients.upsert(OTHER, email=OTHER_EMAIL)
    before = sorted(rows_of_every_table(database_url))
    with pytest.raises(UnknownRecipientError, match="nobody-1"):
        app.recipients.erase("nobody-1")
    with pytest.raises(UnknownRecipientError, match="nobody-1"):
        app.recipients.export("nobody-1")
    assert sorted(rows_of_every_table(database_url)) == before
    assert app.recipients.erasures() == []
    with pytest.raises(ValidationError, match="recipient id"):
        app.recipients.erase("")
    with pytest.raises(ValidationError, match="actor"):
        app.recipients.erase(OTHER, actor="")
    with pytest.raises(ValidationError, match="marker of an erasure"):
        app.recipients.export("erased:ers_01")
    assert app.recipients.get(OTHER).email == OTHER_EMAIL
    # erased once, they are unknown: a second erase is the same clear error
    app.recipients.erase(OTHER)
    with pytest.raises(UnknownRecipientError):
        app.recipients.erase(OTHER)
    assert len(app.recipients.erasures()) == 1


def test_recipient_key_is_checked(make_app: Callable[..., Tidings], tmp_path: Path) -> None:
    for bad in ("", "a..b", "items.0", 5):
        with pytest.raises(ConfigError, match="recipient_key"):
            make_app(recipient_key=bad)


async def test_without_a_recipient_key_runs_that_notified_them_are_theirs(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    app = notify_app(make_app, tmp_path)
    app.recipients.upsert(WHO, email=EMAIL)

    @app.task()
    async def ping(ctx: Context, payload: dict[str, Any]) -> None:
        await ctx.notify("alert", to=payload["who"], data={"name": "A"})

    @app.task()
    async def unrelated(ctx: Context, payload: dict[str, Any]) -> None:
        return None

    async with TestEngine(app, start=START) as t:
        mine = await t.trigger(ping, {"who": WHO})
        other = await t.trigger(unrelated, {"who": WHO})
        await t.run_due()
    exported = app.recipients.export(WHO)
    ids = {r["id"] for r in exported["runs"]}
    assert mine.id in ids
    assert other.id not in ids
    assert exported["recipient_key"] is None
    assert exported["events"] == []


async def test_a_payload_that_jsonb_refuses_does_not_stop_an_erasure(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    app = _app(make_app, tmp_path)
    app.recipients.upsert("bệnh-nhân-7", email=EMAIL)

    @app.task()
    async def note(ctx: Context, payload: dict[str, Any]) -> None:
        return None

    nul = app.trigger(note, {"userId": "someone", "text": "a\u0000b"})
    odd = app.trigger(note, {"userId": "bệnh-nhân-7", "text": "hi"})
    exported = app.recipients.export("bệnh-nhân-7")
    assert [r["id"] for r in exported["runs"]] == [odd.id]
    erasure = app.recipients.erase("bệnh-nhân-7")
    assert erasure.counts["runs"] == 1
    assert app.get_run(odd.id).payload == {"userId": f"erased:{erasure.id}", "text": "hi"}
    assert app.get_run(nul.id).payload["text"] == "a\u0000b"
