"""MediLink asks (issue 16): an unanswered quote's follow-up asks the hospital to accept or
decline on email, in-app and push; the first answer records it and tells the provider."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from examples.medilink.app import MediLink, create

from tests.server.harness import serving
from tidings import RunStatus
from tidings.testing import TestEngine

from .helpers import outbox
from .test_medilink_timelines import hospital, provider

START = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


@pytest.fixture
def ml(database_url: str, data_url: str) -> Iterator[MediLink]:
    bundle = create(database_url, data_url=data_url)
    yield bundle
    bundle.close()


def _click(base: str, link: str) -> str:
    """POST an action link as the confirm page's button does; the page's text."""
    return httpx.post(base + urlsplit(link).path, timeout=30).text


async def test_the_hospital_accepts_by_email_and_the_provider_is_told(ml: MediLink) -> None:
    async with TestEngine(ml.app, start=START) as t:
        user = hospital(ml, complete=True)
        seller = provider(ml, 1, "equipment-maintenance")
        request = ml.backend.create_service_request(
            user.id, "equipment-maintenance", "Bảo trì máy siêu âm"
        )
        quote = ml.backend.send_quote(request, seller.id, 12_500_000)
        await t.advance(timedelta(hours=48))
        [email] = outbox(ml.app, user.id, "quote-followup", "email")
        links = dict(re.findall(r"^(Chấp nhận báo giá|Từ chối): (\S+)$", email.text, re.M))
        assert set(links) == {"Chấp nhận báo giá", "Từ chối"}
        [item] = [i for i in ml.app.inbox.list(user.id) if i.type == "quote-followup"]
        assert item.data["question"]["actions"] == ["accept", "decline"]
        with serving(ml.app) as base:
            assert "Thank you" in _click(base, links["Chấp nhận báo giá"])
            assert "already answered" in _click(base, links["Từ chối"])
        await t.advance(timedelta(0))
        [run] = await t.list_runs("quote-followup")
        assert run.status is RunStatus.COMPLETED
        assert run.result == {
            "reminded": True, "response": "accept", "channel": "email", "recorded": True,
        }  # fmt: skip
        [told] = outbox(ml.app, seller.id, "quote-answered", "email")
        assert told.subject == ('Bệnh viện Gia Định đã chấp nhận báo giá cho "Bảo trì máy siêu âm"')
        stored = ml.data.quote(quote)
        assert stored is not None
        assert stored["responded"]


async def test_an_unanswered_question_closes_after_five_days(ml: MediLink) -> None:
    async with TestEngine(ml.app, start=START) as t:
        user = hospital(ml, complete=True)
        seller = provider(ml, 1, "equipment-maintenance")
        request = ml.backend.create_service_request(user.id, "equipment-maintenance", "Siêu âm")
        ml.backend.send_quote(request, seller.id, 9_000_000)
        await t.advance(timedelta(hours=48) + timedelta(days=5))
        [run] = await t.list_runs("quote-followup")
        assert run.result == {"reminded": True, "response": None}
        assert outbox(ml.app, seller.id, "quote-answered") == []
