"""Loopback fakes of the providers' services, one per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.fake_expo import FakeExpo
from tests.fakes.fake_resend import FakeResend
from tests.fakes.fake_twilio import FakeTwilio
from tidings.providers.base import Message


@pytest.fixture
def resend_server() -> Iterator[FakeResend]:
    with FakeResend().running() as server:
        assert isinstance(server, FakeResend)
        yield server


@pytest.fixture
def expo_server() -> Iterator[FakeExpo]:
    with FakeExpo().running() as server:
        assert isinstance(server, FakeExpo)
        yield server


@pytest.fixture
def twilio_server() -> Iterator[FakeTwilio]:
    with FakeTwilio().running() as server:
        assert isinstance(server, FakeTwilio)
        yield server


def email_message(n: int = 1, **changes: object) -> Message:
    fields: dict[str, object] = {
        "delivery_id": f"dlv_{n}",
        "idempotency_key": f"idem-{n}",
        "channel": "email",
        "type_id": "lab-results-ready",
        "to": "patient@example.com",
        "locale": "en",
        "subject": "Your lab results are ready",
        "html": "<p>Hello <b>An</b></p>",
        "text": "Hello An",
    }
    fields.update(changes)
    return Message(**fields)  # type: ignore[arg-type]
