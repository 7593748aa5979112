"""Sandboxed environments: external sends go to the outbox unless allow-listed, and the
delivery records it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import pytest

from tests.conftest import START
from tests.contract.notify_support import notify_app
from tidings import Tidings
from tidings.errors import ValidationError
from tidings.providers.base import Channel, Message, Provider, SendResult
from tidings.testing import TestEngine

TOKEN = "ExponentPushToken[qa-phone]"


class Recording(Provider):
    """Accepts everything and remembers it (stands for a real gateway)."""

    name = "recording"
    channels: ClassVar[frozenset[Channel]] = frozenset({Channel.EMAIL, Channel.PUSH, Channel.SMS})

    def __init__(self) -> None:
        self.sent: list[Message] = []

    async def send(self, message: Message) -> SendResult:
        self.sent.append(message)
        return SendResult(provider_message_id=f"rec-{len(self.sent)}")


def _app(
    make_app: Callable[..., Tidings], tmp_path: Path, gateway: Recording, **options: object
) -> Tidings:
    channels = {"email": [gateway], "push": [gateway], "sms": [gateway]}
    app = notify_app(make_app, tmp_path, channels=channels, **options)
    app.recipients.upsert("patient", email="patient@example.com", phone="+84901234567")
    app.recipients.upsert("qa", email="QA@team.example", phone="+84909999999")
    app.recipients.add_push_token("qa", TOKEN)
    return app


async def test_staging_sends_only_to_the_allow_list(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    gateway = Recording()
    app = _app(
        make_app,
        tmp_path,
        gateway,
        environment="staging",
        sandbox=None,  # the default: on, since staging is not production
        sandbox_allow=["qa@team.example", "+84909999999", TOKEN],
    )
    assert app.sandboxed
    async with TestEngine(app, start=START, outbox=False) as t:
        for who in ("patient", "qa"):
            app.notify("urgent", to=who, data={"name": who}, channels=["email", "sms"])
        app.notify("urgent", to="qa", data={"name": "qa"}, channels=["push"])
        await t.run_due()
    assert sorted((m.channel, m.to) for m in gateway.sent) == [
        ("email", "QA@team.example"),
        ("push", TOKEN),
        ("sms", "+84909999999"),
    ]
    held = app.deliveries.list(to="patient")
    assert {(d.channel, d.status, d.provider, d.sandboxed) for d in held} == {
        ("email", "sent", "outbox", True),
        ("sms", "sent", "outbox", True),
    }
    assert sorted(e.channel for e in app.outbox.list(to="patient@example.com")) == ["email"]
    assert [e.to for e in app.outbox.list(channel="sms")] == ["+84901234567"]
    assert not any(d.sandboxed for d in app.deliveries.list(to="qa"))


async def test_a_recipient_id_on_the_allow_list_is_sent_on_every_channel(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    gateway = Recording()
    app = _app(
        make_app, tmp_path, gateway, environment="preview-x", sandbox=None, sandbox_allow=["qa"]
    )
    async with TestEngine(app, start=START, outbox=False) as t:
        app.notify("urgent", to="qa", data={"name": "qa"}, channels=["email", "sms"])
        app.notify("urgent", to="patient", data={"name": "p"}, channels=["email"])
        await t.run_due()
    assert sorted(m.to for m in gateway.sent) == ["+84909999999", "QA@team.example"]


async def test_production_is_not_a_sandbox_unless_told(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    gateway = Recording()
    app = _app(
        make_app, tmp_path, gateway, environment="production", sandbox=None, secret_key="x" * 32
    )
    assert not app.sandboxed
    async with TestEngine(app, start=START, outbox=False) as t:
        app.notify("urgent", to="patient", data={"name": "p"}, channels=["email"])
        await t.run_due()
    assert [m.to for m in gateway.sent] == ["patient@example.com"]
    (d,) = app.deliveries.list(to="patient")
    assert (d.provider, d.sandboxed) == ("recording", False)

    forced = _app(make_app, tmp_path / "2", Recording(), environment="production", sandbox=True)
    assert forced.sandboxed


def test_a_bad_allow_list_is_rejected(make_app: Callable[..., Tidings]) -> None:
    with pytest.raises(ValidationError, match="sandbox_allow"):
        make_app(sandbox_allow="qa@team.example")
