"""The built-in Expo receipts task against the Expo fake, on both stores."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import START
from tests.contract.notify_support import notify_app
from tests.fakes.fake_expo import FakeExpo
from tidings import Tidings
from tidings.providers import Expo
from tidings.providers.receipts import RECEIPTS_TASK
from tidings.testing import TestEngine

PHONE = "ExponentPushToken[phone]"
TABLET = "ExponentPushToken[tablet]"


@pytest.fixture
def expo_fake() -> Iterator[FakeExpo]:
    with FakeExpo().running() as server:
        assert isinstance(server, FakeExpo)
        yield server


def make(make_app: Callable[..., Tidings], tmp_path: Path, expo: FakeExpo) -> Tidings:
    app = notify_app(make_app, tmp_path, channels={"push": [Expo(base_url=expo.url)]})
    app.recipients.upsert("u1")
    app.recipients.add_push_token("u1", PHONE)
    app.recipients.add_push_token("u1", TABLET)
    return app


@asynccontextmanager
async def engine(app: Tidings) -> AsyncIterator[TestEngine]:
    try:
        async with TestEngine(app, start=START, outbox=False) as t:
            yield t
    finally:
        for provider in app.notifications.providers("push"):
            await provider.aclose()


def receipt_calls(expo: FakeExpo) -> int:
    return sum(r.path.endswith("/getReceipts") for r in expo.requests)


async def test_receipts_deliver_and_deactivate_unregistered_tokens(
    make_app: Callable[..., Tidings], tmp_path: Path, expo_fake: FakeExpo
) -> None:
    app = make(make_app, tmp_path, expo_fake)
    async with engine(app) as t:
        app.notify("alert", to="u1", data={"name": "An"}, channels=["push"])
        await t.run_due()
        (d,) = app.deliveries.list(channel="push")
        assert d.status == "sent"
        tablet_ticket = next(i for i, m in expo_fake.tickets.items() if m["to"] == TABLET)
        expo_fake.receipts[tablet_ticket] = {
            "status": "error",
            "message": "The device cannot receive push notifications anymore",
            "details": {"error": "DeviceNotRegistered"},
        }
        await t.advance(timedelta(minutes=14))
        assert app.deliveries.list(channel="push")[0].status == "sent"  # too early to ask
        assert receipt_calls(expo_fake) == 0
        await t.advance(timedelta(minutes=6))
        (d,) = app.deliveries.list(channel="push")
    assert d.status == "delivered"
    assert receipt_calls(expo_fake) == 1
    assert [tok.token for tok in app.recipients.push_tokens("u1")] == [PHONE]
    entry = d.history[-1]
    assert entry["outcome"] == "receipt"
    assert sorted(entry["receipts"].values()) == ["DeviceNotRegistered", "ok"]


async def test_all_receipts_failing_fails_the_delivery(
    make_app: Callable[..., Tidings], tmp_path: Path, expo_fake: FakeExpo
) -> None:
    app = make(make_app, tmp_path, expo_fake)
    async with engine(app) as t:
        app.notify("alert", to="u1", data={"name": "An"}, channels=["push"])
        await t.run_due()
        for ticket in expo_fake.tickets:
            expo_fake.receipts[ticket] = {
                "status": "error", "message": "Message too big",
                "details": {"error": "MessageTooBig"},
            }  # fmt: skip
        await t.advance(timedelta(minutes=20))
        (d,) = app.deliveries.list(channel="push")
    assert d.status == "failed"
    assert "MessageTooBig" in (d.error or "")
    assert len(app.recipients.push_tokens("u1")) == 2


async def test_a_receipt_not_ready_is_asked_again_later(
    make_app: Callable[..., Tidings], tmp_path: Path, expo_fake: FakeExpo
) -> None:
    app = make(make_app, tmp_path, expo_fake)
    async with engine(app) as t:
        app.notify("alert", to="u1", data={"name": "An"}, channels=["push"])
        await t.run_due()
        expo_fake.pending.update(expo_fake.tickets)
        await t.advance(timedelta(minutes=20))
        assert app.deliveries.list(channel="push")[0].status == "sent"
        asked = receipt_calls(expo_fake)
        assert asked >= 1
        expo_fake.pending.clear()
        await t.advance(timedelta(minutes=5))
        (d,) = app.deliveries.list(channel="push")
        assert d.status == "delivered"
        assert receipt_calls(expo_fake) == asked + 1
        await t.advance(timedelta(hours=1))  # a moved delivery is not asked about again
    assert receipt_calls(expo_fake) == asked + 1


def test_the_task_exists_only_with_an_expo_push_provider(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    with_expo = notify_app(make_app, tmp_path / "a", channels={"push": [Expo()]})
    without = notify_app(make_app, tmp_path / "b")
    assert RECEIPTS_TASK in with_expo.kernel.tasks
    assert RECEIPTS_TASK not in with_expo.tasks  # built in: not listed as the app's
    assert RECEIPTS_TASK not in without.kernel.tasks
