"""Sends per second through each provider against its loopback server (``make bench-providers``).

Issue 6's benchmark, at the provider level (``provider.send`` / ``send_batch`` called
directly, 20 sends in flight): Resend, Twilio and SMTP against the fakes of the test
suite (tests/fakes, an aiosmtpd relay), Expo in batches of 100. Each provider is measured
with its rate limit lifted (``rate_limit=None``: what the provider code and the loopback
server sustain) and enforced (the measured rate must match the limit, never exceed it;
the busiest one-second window the server saw is reported too).

The fakes are single-process ``http.server`` threads, so the lifted numbers are bounded
by the fake as much as by the provider; they show the provider adds no bottleneck of its
own. Prints one JSON object and writes its section of bench/RESULTS.md.

    .venv/bin/python bench/providers.py            # about 1 minute
    .venv/bin/python bench/providers.py --quick
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes.fake_expo import FakeExpo  # noqa: E402
from tests.fakes.fake_resend import FakeResend  # noqa: E402
from tests.fakes.fake_twilio import FakeTwilio  # noqa: E402
from tests.integration.providers.smtp_server import Relay, relay  # noqa: E402

from bench.common import section, write_section  # noqa: E402
from tidings.providers import Channel, Expo, Message, Provider, Resend, Smtp, Twilio  # noqa: E402

BEGIN, END = section("providers")
IN_FLIGHT = 20


@dataclass
class Measure:
    provider: str
    mode: str
    sends: int
    seconds: float
    limit: float | None
    busiest_window: int
    span: float
    """Seconds from the first send the server saw to the last."""

    @property
    def rate(self) -> float:
        return self.sends / self.seconds

    @property
    def steady(self) -> float | None:
        """Under a limit: sends per second once the first window's burst is spent.

        A sliding window lets ``limit`` go at once, then ``limit`` more each period, so
        ``k`` windows' sends arrive over ``k - 1`` periods: the rate is the sends past
        the first window over the span from first to last arrival.
        """
        if not self.limit or self.span <= 0:
            return None
        return (self.sends - self.limit) / self.span


def message(channel: Channel, n: int) -> Message:
    to = {"email": "patient@example.com", "sms": "+84901234567"}.get(
        channel, f"ExponentPushToken[bench-{n}]"
    )
    return Message(
        delivery_id=f"dlv_{n}", idempotency_key=f"bench-{time.time_ns()}-{n}",
        channel=channel, type_id="bench", to=to, locale="en", subject="Bench",
        text="Hello", html="<p>Hello</p>", title="Bench", body="Hello",
    )  # fmt: skip


async def drive(provider: Provider, channel: Channel, sends: int) -> float:
    """Seconds to send ``sends`` messages with ``IN_FLIGHT`` at a time."""
    queue = iter(range(sends))

    async def worker() -> None:
        for n in queue:
            await provider.send(message(channel, n))

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    return time.perf_counter() - started


def span(arrivals: list[tuple[float, int]]) -> float:
    times = [at for at, _ in arrivals]
    return max(times) - min(times)


def busiest(arrivals: list[tuple[float, int]]) -> int:
    """Most sends the server saw in any one-second window (arrival time, sends)."""
    arrivals = sorted(arrivals)
    best, total, j = 0, 0, 0
    for at, count in arrivals:
        total += count
        while arrivals[j][0] <= at - 1.0:
            total -= arrivals[j][1]
            j += 1
        best = max(best, total)
    return best


async def http_provider(
    name: str,
    channel: Channel,
    make: Callable[[str, float | None], Provider],
    server: Any,
    sends: int,
    limit: float | None,
) -> Measure:
    provider = make(server.url, limit)
    try:
        await provider.send(message(channel, -1))  # open the connection pool
        before = len(server.requests)
        seconds = await drive(provider, channel, sends)
    finally:
        await provider.aclose()
    arrivals = [(r.at, 1) for r in server.requests[before:]]
    mode = "enforced" if limit else "lifted"
    return Measure(name, mode, sends, seconds, limit, busiest(arrivals), span(arrivals))


async def expo(sends: int, limit: float | None) -> Measure:
    with FakeExpo().running() as server:
        provider = Expo(base_url=server.url, rate_limit=limit)
        batch = [message(Channel.PUSH, n) for n in range(sends)]
        try:
            started = time.perf_counter()
            outcomes = await provider.send_batch(batch)
            seconds = time.perf_counter() - started
        finally:
            await provider.aclose()
        assert all(not isinstance(o, Exception) for o in outcomes)
        arrivals = [(r.at, len(r.json())) for r in server.requests]
        mode = "enforced" if limit else "lifted"
        name = "expo (batches of 100)"
        return Measure(name, mode, sends, seconds, limit, busiest(arrivals), span(arrivals))


async def smtp(sends: int, limit: float | None) -> Measure:
    seen = Relay()
    with relay(seen) as port:
        provider = Smtp("127.0.0.1", port, sender="bench@example.com", rate_limit=limit)
        seconds = await drive(provider, Channel.EMAIL, sends)
    assert len(seen.received) == sends
    arrivals = [(r.at, 1) for r in seen.received]
    mode = "enforced" if limit else "lifted"
    return Measure("smtp", mode, sends, seconds, limit, busiest(arrivals), span(arrivals))


async def run_all(quick: bool) -> list[Measure]:
    n = 300 if quick else 2000
    results: list[Measure] = []

    def resend(url: str, limit: float | None) -> Provider:
        return Resend(api_key="re_bench", sender="bench@example.com", base_url=url,
                      rate_limit=limit)  # fmt: skip

    def twilio(url: str, limit: float | None) -> Provider:
        return Twilio(account_sid="AC" + "0" * 32, auth_token="twilio_test_token",
                      from_="+15005550006", base_url=url, rate_limit=limit)  # fmt: skip

    plans: list[tuple[str, Callable[[], Awaitable[Measure]]]] = []
    seconds = 3 if quick else 6  # of enforced sending
    for limit in (None, 5.0):
        sends = n if limit is None else int(limit * seconds)
        plans.append(("resend", partial(_with, FakeResend(api_key="re_bench"), "resend",
                                        Channel.EMAIL, resend, sends, limit)))  # fmt: skip
    for limit in (None, 20.0):
        sends = n if limit is None else int(limit * seconds)
        plans.append(("twilio", partial(_with, FakeTwilio(), "twilio", Channel.SMS, twilio,
                                        sends, limit)))  # fmt: skip
    for limit in (None, 600.0):
        plans.append(("expo", partial(expo, 10 * n if limit is None else 600 * seconds, limit)))
    for limit in (None, 20.0):
        plans.append(("smtp", partial(smtp, n // 2 if limit is None else 20 * seconds, limit)))
    for name, plan in plans:
        print(f"measuring {name}...", file=sys.stderr)
        results.append(await plan())
    return results


async def _with(
    server: Any,
    name: str,
    channel: Channel,
    make: Callable[[str, float | None], Provider],
    sends: int,
    limit: float | None,
) -> Measure:
    with server.running():
        return await http_provider(name, channel, make, server, sends, limit)


def table(results: list[Measure], quick: bool) -> str:
    rows = []
    for m in results:
        limit = f"{m.limit:g}/s" if m.limit else "lifted"
        verdict = steady = ""
        if m.limit and m.steady is not None:
            ok = (m.busiest_window or 0) <= m.limit
            verdict = "kept" if ok else "**EXCEEDED**"
            steady = f"{m.steady:,.1f}"
        rows.append(f"| {m.provider} | {limit} | {m.sends:,} | {m.rate:,.1f} | {steady} | "
                    f"{m.busiest_window:,} | {verdict} |")  # fmt: skip
    return "\n".join(
        [
            BEGIN,
            "## Providers: sends per second against loopback servers (issue 6)",
            "",
            "`bench/providers.py`" + (" --quick" if quick else "") + f": {IN_FLIGHT} sends "
            "in flight through `provider.send` (Expo: one `send_batch`, requests of 100) "
            "against the test fakes (threaded `http.server`) and an aiosmtpd relay on "
            "loopback. Lifted = `rate_limit=None`; enforced = the provider's in-process "
            "limiter (a sliding one-second window). Sends/s is over the whole run, which "
            "under a limit includes the first window's burst; steady is the sends after that "
            "burst per second, which must match the limit. Busiest 1 s is the most sends the "
            "server saw in any one-second window, which must not exceed it.",
            "",
            "| Provider | Limit | Sends | Sends/s | Steady sends/s | Busiest 1 s | Limit |",
            "|---|---|---|---|---|---|---|",
            *rows,
            END,
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true", help="smaller runs")
    args = parser.parse_args()
    results = asyncio.run(run_all(args.quick))
    print(json.dumps([{**m.__dict__, "rate": round(m.rate, 2)} for m in results], indent=2))
    write_section("providers", table(results, args.quick))


if __name__ == "__main__":
    main()
