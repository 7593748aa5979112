"""Recipients, push tokens, preferences, suppressions, and bad notify input."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydantic
import pytest

from tests.conftest import START
from tests.contract.notify_support import notify_app
from tidings import Context, RunStatus, Tidings
from tidings.errors import (
    UnknownNotificationTypeError,
    UnknownRecipientError,
    UnstorableTextError,
    ValidationError,
)
from tidings.testing import TestEngine


def test_upsert_validates_normalises_and_keeps_fields_not_given(app: Tidings) -> None:
    r = app.recipients.upsert(
        "u1",
        email="An.Nguyen@Example.COM",
        phone="+84 90 123 45 67",
        locale="vi",
        timezone="Asia/Ho_Chi_Minh",
        quiet_hours=("22:00", "07:00"),
        data={"plan": "pro"},
    )
    assert (r.email, r.phone) == ("An.Nguyen@example.com", "+84901234567")
    assert (r.locale, r.timezone, r.quiet_hours) == ("vi", "Asia/Ho_Chi_Minh", ("22:00", "07:00"))
    again = app.recipients.upsert("u1", locale="en")
    assert again.locale == "en"
    assert (again.email, again.phone, again.data) == (r.email, r.phone, {"plan": "pro"})
    cleared = app.recipients.upsert("u1", email=None, quiet_hours=None)
    assert (cleared.email, cleared.quiet_hours, cleared.phone) == (None, None, "+84901234567")
    assert app.recipients.get("u1") == cleared
    assert app.recipients.delete("u1") is True
    assert app.recipients.delete("u1") is False
    with pytest.raises(UnknownRecipientError, match="u1"):
        app.recipients.get("u1")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "not-an-email", "email 'not-an-email' is invalid"),
        ("phone", "12345", "phone '12345'"),
        ("phone", "+84 12", "phone"),
        ("locale", "vietnamese!", "locale 'vietnamese!'"),
        ("timezone", "Mars/Olympus", "timezone 'Mars/Olympus'"),
        ("quiet_hours", ("22h", "7h"), "quiet_hours"),
        ("quiet_hours", ("07:00", "07:00"), "quiet_hours"),
    ],
)
def test_an_invalid_field_is_named_and_nothing_is_stored(
    app: Tidings, field: str, value: Any, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        app.recipients.upsert("u1", **{field: value})
    with pytest.raises(UnknownRecipientError):
        app.recipients.get("u1")


def test_push_tokens_move_to_a_new_owner_and_deactivate(app: Tidings) -> None:
    app.recipients.upsert("u1")
    app.recipients.upsert("u2")
    app.recipients.add_push_token("u1", "ExponentPushToken[a]", platform="ios", device_name="A")
    app.recipients.add_push_token("u1", "ExponentPushToken[b]", platform="android")
    assert {t.token for t in app.recipients.push_tokens("u1")} == {
        "ExponentPushToken[a]",
        "ExponentPushToken[b]",
    }
    moved = app.recipients.add_push_token("u2", "ExponentPushToken[a]", platform="ios")
    assert moved.recipient_id == "u2"
    assert [t.token for t in app.recipients.push_tokens("u1")] == ["ExponentPushToken[b]"]
    assert app.recipients.deactivate_push_token("ExponentPushToken[b]") is True
    assert app.recipients.deactivate_push_token("ExponentPushToken[b]") is False
    assert app.recipients.push_tokens("u1") == []
    assert [t.active for t in app.recipients.push_tokens("u1", active_only=False)] == [False]
    with pytest.raises(UnknownRecipientError):
        app.recipients.add_push_token("nobody", "ExponentPushToken[c]")
    with pytest.raises(ValidationError, match="push token"):
        app.recipients.add_push_token("u1", "")


def test_preferences_per_type_and_channel_with_a_global_default(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    app = notify_app(make_app, tmp_path)
    app.recipients.upsert("u1")
    assert app.preferences.get("u1", type="alert", channel="email") is True
    app.preferences.set("u1", type=None, channel="email", enabled=False)
    assert app.preferences.get("u1", type="alert", channel="email") is False
    app.preferences.set("u1", type="alert", channel="email", enabled=True)
    assert app.preferences.get("u1", type="alert", channel="email") is True
    assert app.preferences.get("u1", type="urgent", channel="email") is False
    assert {(p.type, p.channel, p.enabled) for p in app.preferences.list("u1")} == {
        (None, "email", False),
        ("alert", "email", True),
    }
    with pytest.raises(ValidationError, match="unknown channel 'fax'"):
        app.preferences.set("u1", type="alert", channel="fax", enabled=False)
    with pytest.raises(UnknownNotificationTypeError, match="alrt"):
        app.preferences.set("u1", type="alrt", channel="email", enabled=False)
    with pytest.raises(UnknownRecipientError):
        app.preferences.set("ghost", type=None, channel="sms", enabled=False)


def test_suppressions_are_kept_per_channel_and_normalised(app: Tidings) -> None:
    app.suppressions.add("email", "Bounce@Example.com", reason="hard bounce")
    assert app.suppressions.contains("email", "Bounce@example.com")
    assert not app.suppressions.contains("sms", "+84901234567")
    assert app.suppressions.remove("email", "Bounce@example.com") is True
    assert not app.suppressions.contains("email", "Bounce@example.com")


class LabData(pydantic.BaseModel):
    name: str
    count: int


def _nothing_recorded(app: Tidings) -> None:
    assert app.deliveries.list() == []
    assert app.inbox.list("u1") == []
    assert app.outbox.list() == []


async def test_bad_notify_input_is_named_and_records_nothing(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    app = notify_app(make_app, tmp_path)
    app.notification_type("typed", channels=("in_app",), data_model=LabData)
    app.recipients.upsert("u1", email="u1@example.com")
    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"type": "nope", "to": "u1"}, UnknownNotificationTypeError, "unknown notification type"),
        ({"type": "alert", "to": "ghost"}, UnknownRecipientError, "ghost"),
        ({"type": "typed", "to": "u1", "data": {"name": "x"}}, ValidationError, "count"),
        ({"type": "broken", "to": "u1", "channels": ["sms"]}, ValidationError, "'sms' is not"),
        ({"type": "alert", "to": "u1", "data": [1, 2]}, ValidationError, "JSON object"),
        ({"type": "alert", "to": "u1", "dedup_key": ""}, ValidationError, "dedup_key"),
    ]
    for call, error, message in cases:
        with pytest.raises(error, match=message):
            app.notify(call.pop("type"), **call)
    assert app.list_runs() == []
    _nothing_recorded(app)

    @app.task()
    async def sends(ctx: Context, payload: dict[str, Any]) -> None:
        await ctx.notify("typed", to="u1", data=payload)

    async with TestEngine(app, start=START) as t:
        h = await t.trigger(sends, {"name": "x", "count": "many"})
        run = await t.get_run(h.id)
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert "count" in run.error.message
    _nothing_recorded(app)


def test_the_store_refuses_text_that_is_not_unicode_by_name(app: Tidings) -> None:
    # The checks above the store refuse lone surrogates first; the store still names one
    # that reaches it (a 422 to the sender, not a failed store).
    with pytest.raises(UnstorableTextError, match=r"id is not valid Unicode.*\\ud800"):
        app.store.recipients.get("a\ud800")
