"""Fixtures: an app with the test tasks on each store, served over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.contract.notify_support import write_templates
from tests.server.harness import add_tasks, serving
from tidings import Context, Tidings
from tidings.providers.base import Channel, Message, Provider, SendResult


@pytest.fixture
def api_app(database_url: str) -> Iterator[Tidings]:
    app = Tidings(database_url, environment="staging")
    add_tasks(app)
    yield app
    app.close()


@pytest.fixture
def base_url(api_app: Tidings) -> Iterator[str]:
    with serving(api_app) as url:
        yield url


class Recording(Provider):
    """An email gateway that accepts everything and remembers it."""

    name = "recording"
    channels: ClassVar[frozenset[Channel]] = frozenset({Channel.EMAIL})

    def __init__(self) -> None:
        self.sent: list[Message] = []

    async def send(self, message: Message) -> SendResult:
        self.sent.append(message)
        return SendResult(provider_message_id=f"rec-{len(self.sent)}")


@pytest.fixture
def notify_api(database_url: str, tmp_path: Path) -> Iterator[Tidings]:
    """A staging app with notification types (in_app + email), its tasks and recipients."""
    app = Tidings(
        database_url,
        environment="staging",
        templates=write_templates(tmp_path / "templates"),
        secret_key="s" * 32,
        channels={"email": [Recording()]},
        sandbox_allow=["bob"],  # staging is a sandbox: only bob's email really goes out
    )
    add_tasks(app)
    app.notification_type("alert", channels=("in_app", "email"))

    @app.task(on_event="lab.completed")
    async def lab_ready(ctx: Context, payload: dict[str, Any]) -> None:
        await ctx.notify("alert", to=payload["userId"], data={"name": payload["name"]})

    for who in ("alice", "bob"):
        app.recipients.upsert(who, email=f"{who}@example.com", locale="vi")
    yield app
    app.close()


@pytest.fixture
def notify_url(notify_api: Tidings) -> Iterator[str]:
    with serving(notify_api) as url:
        yield url


@pytest.fixture
async def worker(notify_api: Tidings) -> AsyncIterator[None]:
    w = notify_api.worker(concurrency=4, poll_interval=0.05)
    running = asyncio.create_task(w.run())
    yield
    w.stop()
    await running


@pytest.fixture(autouse=True)
def _every_server_test_keeps_secrets_out_of_logs(no_secrets_in_logs: None) -> None:
    """Finding 4 of issue 22, over every server test (see ``no_secrets_in_logs``)."""
