"""Deliveries per second through one Resend budget shared by two apps' workers.

Two apps on one database (SQLite file, PostgreSQL schema), each with a worker, send
``app.notify`` email deliveries through the durable ``tidings.deliver`` task to the
Resend fake of the test suite, with the provider's limit lifted and enforced. Each app's
Resend skips the process-wide limiter (as if each ran in its own process), so only the
budget shared through the store keeps them to the limit. Reported: deliveries/s over the
run, the busiest one-second window the fake saw (must not exceed the limit) and the
smallest span of ``limit + 1`` consecutive requests (must be at least one second).
Prints JSON and writes its section of bench/RESULTS.md.

    .venv/bin/python bench/shared_limits.py          # about a minute
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.contract.notify_support import write_templates  # noqa: E402
from tests.fakes.fake_resend import FakeResend  # noqa: E402

from bench.common import section, write_section  # noqa: E402
from tidings import Tidings  # noqa: E402
from tidings.providers import Resend  # noqa: E402

PG_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
BEGIN, END = section("shared-limits")
KEY = "re_bench_shared"
RATE = 10


class OwnProcessResend(Resend):
    @asynccontextmanager
    async def _throttle(self, permits: int = 1) -> AsyncIterator[None]:
        yield


def make(url: str, templates: Path, server: FakeResend, rate: float | None) -> Tidings:
    resend = OwnProcessResend(KEY, "noreply@medilink.vn", base_url=server.url,
                              rate_limit=rate, timeout=10)  # fmt: skip
    app = Tidings(url, templates=templates, channels={"email": [resend]}, sandbox=False)
    app.notification_type("alert", channels=("email",))
    return app


async def measure(url: str, templates: Path, sends: int, rate: float | None) -> dict[str, Any]:
    with FakeResend(api_key=KEY).running() as server:
        assert isinstance(server, FakeResend)
        apps = [make(url, templates, server, rate) for _ in range(2)]
        for n in range(sends):
            apps[0].recipients.upsert(f"u{n}", email=f"u{n}@example.com")
        for n in range(sends):
            apps[0].notify("alert", to=f"u{n}", data={"name": "An"})
        workers = [app.worker(concurrency=20, poll_interval=0.05) for app in apps]
        started = time.monotonic()
        running = [asyncio.create_task(w.run()) for w in workers]
        while len(server.sent) < sends:
            if time.monotonic() - started > 600:
                raise RuntimeError(f"only {len(server.sent)} of {sends} sends in 10 minutes")
            await asyncio.sleep(0.01)
        elapsed = time.monotonic() - started
        for w in workers:
            w.stop()
        await asyncio.gather(*running)
        for app in apps:
            app.close()
    arrivals = sorted(r.at for r in server.requests)
    busiest = max(sum(1 for t in arrivals if a <= t < a + 1.0) for a in arrivals)
    limit = int(rate) if rate else None
    span = (
        min(arrivals[i + limit] - arrivals[i] for i in range(len(arrivals) - limit))
        if limit
        else None
    )
    return {
        "limit": f"{limit}/s" if limit else "lifted",
        "sends": sends,
        "requests": len(arrivals),
        "deliveries_per_s": round(sends / elapsed, 1),
        "busiest_1s": busiest,
        "min_span_limit_plus_1": round(span, 3) if span is not None else None,
    }


async def run_store(store: str, work: Path) -> list[dict[str, Any]]:
    templates = write_templates(work / "templates")
    results = []
    for rate, sends in ((None, 300), (float(RATE), 60)):
        if store == "sqlite":
            url = f"sqlite:///{work / f'{uuid.uuid4().hex}.db'}"
            results.append({"store": store, **await measure(url, templates, sends, rate)})
            continue
        schema = f"tidings_bench_limits_{uuid.uuid4().hex[:12]}"
        try:
            url = f"{PG_SERVER}?schema={schema}"
            results.append({"store": store, **await measure(url, templates, sends, rate)})
        finally:
            with psycopg.connect(PG_SERVER, autocommit=True) as conn:
                drop = sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
                conn.execute(drop)
    return results


def table(results: list[dict[str, Any]]) -> str:
    rows = [
        f"| {r['store']} | {r['limit']} | {r['sends']} | {r['requests']} | "
        f"{r['deliveries_per_s']} | {r['busiest_1s']} | {r['min_span_limit_plus_1'] or ''} |"
        for r in results
    ]
    return "\n".join(
        [
            BEGIN,
            "## Provider limits shared by two apps' workers (`bench/shared_limits.py`)",
            "",
            "Two apps on one database, one worker each (concurrency 20), deliver "
            "`app.notify` emails through the durable `tidings.deliver` task to the Resend "
            "fake; the process-wide limiter is bypassed so only the budget in the store "
            "limits them. Busiest 1 s must not exceed the limit; the smallest span of "
            "limit + 1 consecutive requests (server's clock) must be at least 1 s.",
            "",
            "| Store | Limit | Deliveries | Requests | Deliveries/s | Busiest 1 s | "
            "Min span of limit+1 (s) |",
            "|---|---|---|---|---|---|---|",
            *rows,
            END,
            "",
        ]
    )


async def run_all() -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for store in ("sqlite", "postgres"):
            results.extend(await run_store(store, Path(tmp) / store))
    return results


def main() -> None:
    results = asyncio.run(run_all())
    print(json.dumps(results, indent=2))
    write_section("shared-limits", table(results))


if __name__ == "__main__":
    main()
