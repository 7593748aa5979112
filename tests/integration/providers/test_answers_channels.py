"""Questions answered by SMS and push (issue 16), on both stores, through the providers'
loopback fakes: the SMS carries "reply 1 to ..." in the recipient's language (labels
from the type's templates), and Twilio's inbound webhook, signed as Twilio documents it,
answers the newest open question of that number; anything else gets a polite help reply
and changes nothing. A push carries Expo's ``categoryId`` and each action's URL."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import START
from tests.contract.notify_support import write_templates
from tests.fakes.fake_expo import FakeExpo
from tests.fakes.fake_twilio import FakeTwilio
from tests.server.harness import serving
from tidings import Context, RunStatus, Tidings
from tidings.providers import Twilio
from tidings.providers.expo import Expo
from tidings.testing import TestEngine

SID = "AC" + "3" * 32
TOKEN = "twilio_inbound_token"
PHONE = "+84901234568"
PUSH_TOKEN = "ExponentPushToken[patient-0001]"
TEMPLATES = {
    "confirm/en/sms.txt": "Appointment on {{ when }}.",
    "confirm/en/actions.json": '{"labels": {"confirm": "Confirm", "cancel": "Cancel"}}',
    "confirm/vi/sms.txt": "Lịch hẹn ngày {{ when }}.",
    "confirm/vi/actions.json": '{"labels": {"confirm": "xác nhận", "cancel": "hủy"}, '
    '"sms_reply": "Trả lời {choices}.", "sms_choice": "{number} để {label}"}',
}


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio(account_sid=SID, auth_token=TOKEN).running() as fake:
        assert isinstance(fake, FakeTwilio)
        yield fake


@pytest.fixture
def expo() -> Iterator[FakeExpo]:
    with FakeExpo().running() as fake:
        assert isinstance(fake, FakeExpo)
        yield fake


@pytest.fixture
def app(
    make_app: Callable[..., Tidings], tmp_path: Path, twilio: FakeTwilio, expo: FakeExpo
) -> Tidings:
    sms = Twilio(account_sid=SID, auth_token=TOKEN, from_="+15005550006", base_url=twilio.url,
                 timeout=5)  # fmt: skip
    app = make_app(
        templates=write_templates(tmp_path / "templates", TEMPLATES),
        channels={"sms": [sms], "push": [Expo(base_url=expo.url)]},
        sandbox=False,
    )
    app.notification_type("confirm", channels=("sms",))
    app.notification_type("confirm-push", channels=("push",), templates=tmp_path / "push")
    write_templates(
        tmp_path / "push",
        {
            "confirm-push/en/push.title": "Appointment",
            "confirm-push/en/push.body": "On {{ when }}: will you come?",
        },
    )
    app.recipients.upsert("patient", phone=PHONE, locale="vi")
    app.recipients.add_push_token("patient", PUSH_TOKEN)

    @app.task
    async def remind(ctx: Context, payload: str | None) -> Any:
        answer = await ctx.ask(
            payload or "confirm", to="patient", data={"when": "2026-03-02"},
            actions=("confirm", "cancel"), timeout=timedelta(days=1),
        )  # fmt: skip
        return None if answer is None else answer.to_json()

    return app


def signed(url: str, form: dict[str, str], token: str = TOKEN) -> dict[str, str]:
    """X-Twilio-Signature as Twilio's "Webhooks security" describes it, computed here
    independently of tidings: the full URL, then each POST parameter sorted by name with
    its value appended, HMAC-SHA1 with the auth token, base64."""
    content = url + "".join(name + form[name] for name in sorted(form))
    digest = hmac.new(token.encode(), content.encode(), hashlib.sha1).digest()
    return {"X-Twilio-Signature": base64.b64encode(digest).decode()}


def post(url: str, data: dict[str, str] | None = None, **options: Any) -> httpx.Response:
    return httpx.post(url, data=data, timeout=30, **options)


def reply(body: str, phone: str = PHONE) -> dict[str, str]:
    return {"MessageSid": "SM" + "9" * 32, "AccountSid": SID, "From": phone,
            "To": "+15005550006", "Body": body}  # fmt: skip


async def test_an_sms_reply_answers_the_question_once(app: Tidings, twilio: FakeTwilio) -> None:
    async with TestEngine(app, start=START, outbox=False) as t:
        h = await t.trigger("remind")
        await t.run_due()
        assert (
            twilio.sent[-1].form["Body"]
            == "Lịch hẹn ngày 2026-03-02. Trả lời 1 để xác nhận, 2 để hủy."
        )
        with serving(app) as base:
            url = f"{base}/webhooks/twilio/inbound"
            unsigned = post(url, data=reply("1"))
            forged = post(url, data=reply("1"), headers=signed(url, reply("1"), "x" * 20))
            moved = post(url, data=reply("1"), headers=signed(url, reply("2")))
            assert [unsigned.status_code, forged.status_code, moved.status_code] == [401] * 3
            chatter = post(url, data=reply("hello?"), headers=signed(url, reply("hello?")))
            assert chatter.status_code == 200
            assert chatter.headers["content-type"].startswith("application/xml")
            assert "did not understand" in chatter.text
            assert "Trả lời 1 để xác nhận" in chatter.text
            assert (await t.get_run(h.id)).status is RunStatus.WAITING
            stranger = reply("1", "+84900000000")
            nobody = post(url, data=stranger, headers=signed(url, stranger))
            assert "no open question" in nobody.text
            yes = post(url, data=reply(" 1 "), headers=signed(url, reply(" 1 ")))
            assert "<Response><Message>Thank you" in yes.text
            await t.run_due()
            late = post(url, data=reply("2"), headers=signed(url, reply("2")))
            assert "already answered" in late.text
        run = await t.get_run(h.id)
    assert run.status is RunStatus.COMPLETED
    assert run.result is not None
    assert (run.result["action"], run.result["channel"]) == ("confirm", "sms")
    assert run.result["recipient"] == "patient"


async def test_a_push_carries_its_category_and_action_urls(app: Tidings, expo: FakeExpo) -> None:
    async with TestEngine(app, start=START, outbox=False) as t:
        h = await t.trigger("remind", "confirm-push")
        await t.run_due()
        sent = expo.requests[-1].json()
        wire = sent[0] if isinstance(sent, list) else sent
        assert wire.get("categoryId") == "tidings.confirm-push", wire
        actions = wire["data"]["actions"]
        assert sorted(actions) == ["cancel", "confirm"]
        assert all(url.startswith("/a/") for url in actions.values())
        with serving(app) as base:
            answered = post(base + actions["cancel"])
            assert "Thank you" in answered.text
        await t.run_due()
        run = await t.get_run(h.id)
    assert run.result is not None
    assert (run.result["action"], run.result["channel"]) == ("cancel", "push")
