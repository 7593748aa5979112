"""Provider rate limits shared by every worker through the store, and providers closed on
shutdown, on both stores."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import ClassVar

from tests.contract.notify_support import notify_app
from tests.fakes.fake_resend import FakeResend
from tidings import Tidings
from tidings.providers import Resend
from tidings.providers.base import Channel, Message, Provider, SendResult

RATE = 4.0  # sends per second: Resend's limiter makes it 4 per 1 s window
LIMIT, PERIOD = 4, 1.0
SENDS = 12


class OwnProcessResend(Resend):
    """Resend as a worker in its own process holds it. The two apps here share one
    process, where Resend's process-wide limiter alone would keep them under the limit;
    without it, only the budget they share through the store can."""

    @asynccontextmanager
    async def _throttle(self, permits: int = 1) -> AsyncIterator[None]:
        yield


def limited_app(make_app: Callable[..., Tidings], tmp_path: Path, url: str) -> Tidings:
    resend = OwnProcessResend(api_key="re_shared_key", sender="noreply@medilink.vn",
                              base_url=url, rate_limit=RATE, timeout=5)  # fmt: skip
    return notify_app(make_app, tmp_path, channels={"email": [resend]})


async def test_two_apps_on_one_database_share_the_provider_limit(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    with FakeResend(api_key="re_shared_key", rate_per_second=LIMIT).running() as server:
        first = limited_app(make_app, tmp_path, server.url)
        second = limited_app(make_app, tmp_path, server.url)
        assert first.database_url == second.database_url
        for n in range(SENDS):
            first.recipients.upsert(f"u{n}", email=f"u{n}@example.com")
            first.notify("alert", to=f"u{n}", data={"name": "An"}, channels=["email"])
        workers = [app.worker(concurrency=8, poll_interval=0.05) for app in (first, second)]
        running = [asyncio.create_task(w.run()) for w in workers]
        deadline = time.monotonic() + 60
        try:
            while len(server.requests) < SENDS or any(
                d.status != "sent" for d in first.deliveries.list(channel="email")
            ):
                assert time.monotonic() < deadline, "the sends did not complete"
                await asyncio.sleep(0.05)
        finally:
            for w in workers:
                w.stop()
            await asyncio.gather(*running)
    arrivals = sorted(r.at for r in server.requests)
    assert len(arrivals) == SENDS  # no 429 retried, nothing sent twice
    # Any LIMIT + 1 consecutive arrivals span at least PERIOD, as the server timed them.
    # The guarantee is exact (a send is admitted only when fewer than LIMIT sends ended
    # within PERIOD); 5 ms only absorbs the two clocks' resolution.
    spans = [arrivals[i + LIMIT] - arrivals[i] for i in range(SENDS - LIMIT)]
    assert min(spans) >= PERIOD - 0.005, spans
    assert all(w.attempts_done > 0 for w in workers)  # both apps' workers sent
    deliveries = first.deliveries.list(channel="email")
    assert {d.status for d in deliveries} == {"sent"}
    assert all(len(d.history) == 1 for d in deliveries)  # a wait is not an attempt
    # the elapsed time matches the limit: 12 sends at 4 per second take over 2 s
    assert arrivals[-1] - arrivals[0] >= (SENDS // LIMIT - 1) * PERIOD - 0.005


class Closing(Provider):
    name = "closing"
    channels: ClassVar[frozenset[Channel]] = frozenset({Channel.EMAIL})

    def __init__(self) -> None:
        self.closed = 0

    async def send(self, message: Message) -> SendResult:
        return SendResult(provider_message_id=message.delivery_id)

    async def aclose(self) -> None:
        self.closed += 1


async def test_providers_are_closed_when_the_worker_and_the_app_stop(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    provider = Closing()
    app = notify_app(make_app, tmp_path, channels={"email": [provider]})
    worker = app.worker(concurrency=2, poll_interval=0.05)
    running = asyncio.create_task(worker.run())
    await asyncio.sleep(0.1)
    assert provider.closed == 0
    worker.stop()
    await running
    assert provider.closed == 1  # the app's last worker stopped
    await app.aclose()
    assert provider.closed == 2
    await asyncio.to_thread(app.close)  # the blocking form, from a thread without a loop
    assert provider.closed == 3
    app.close()  # the blocking form inside a running loop: closed in a helper thread
    assert provider.closed == 4
    assert app.deliveries.list() == []  # the store reopens on next use


def test_an_app_closed_outside_any_event_loop_closes_its_providers(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    provider = Closing()
    app = notify_app(make_app, tmp_path, channels={"email": [provider]})
    app.close()
    assert provider.closed == 1
