"""HTTP API benchmarks: POST /api/v1/events throughput and latency with 16 concurrent
clients, and how fast the realtime inbox stream shows a change, on SQLite and PostgreSQL.

The API runs as ``tidings serve`` in its own process (and, for the stream, ``tidings
worker`` in another), as in production; the load generator is an httpx async client in
this process on loopback, sharing the machine's cores with them. Prints JSON and writes
bench/RESULTS.md between the server markers.

    .venv/bin/python bench/server.py [--quick] [--store sqlite|postgresql] [--no-write]
        [--key-cache-seconds S]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql

if __package__ in (None, ""):  # run as a script: the repository root is not on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import RESULTS, log, section, write_section
from tidings import Tidings
from tidings.keys import create_key

BEGIN, END = section("server")
ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
STORES = ("sqlite", "postgresql")
CLIENTS = 16
APP = "bench.serverapp:app"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def database(kind: str, folder: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'server.db'}"
        return
    schema = f"bench_server_{os.getpid()}"
    try:
        yield f"{PG_URL}{'&' if '?' in PG_URL else '?'}schema={schema}"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@contextmanager
def process(*args: str, url: str) -> Iterator[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
    env["PYTHONPATH"] = str(ROOT)
    if cache := os.environ.get("BENCH_KEY_CACHE_SECONDS"):  # --key-cache-seconds
        env["TIDINGS_KEY_CACHE_SECONDS"] = cache
    argv = [sys.executable, "-m", "tidings.cli", *args, "--app", APP, "--database-url", url]
    proc = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_ready(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("tidings serve did not start")
        time.sleep(0.1)


# -- POST /api/v1/events ------------------------------------------------------------------
async def load(base: str, key: str, seconds: float, warmup: float) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    stop_at = time.monotonic() + warmup + seconds
    measure_from = time.monotonic() + warmup
    headers = {"Authorization": f"Bearer {key}"}

    async def client(n: int) -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as c:
            i = 0
            while (started := time.monotonic()) < stop_at:
                body = {"name": "bench.event", "payload": {"client": n, "i": i}}
                r = await c.post("/api/v1/events", json=body)
                done = time.monotonic()
                i += 1
                if r.status_code != 200:
                    errors += 1
                elif started >= measure_from:
                    latencies.append(done - started)

    await asyncio.gather(*(client(n) for n in range(CLIENTS)))
    return {
        "requests": len(latencies),
        "errors": errors,
        "requests_per_s": round(len(latencies) / seconds, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 99) * 1000, 2),
    }


# -- the inbox stream ---------------------------------------------------------------------
class Stream:
    def __init__(self, response: httpx.Response) -> None:
        self.lines = response.aiter_lines()

    async def next(self, kind: str) -> dict[str, Any]:
        event, data = "", ""
        async for line in self.lines:
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data = line[5:].strip()
            elif line == "" and data:
                if event == kind:
                    parsed: dict[str, Any] = json.loads(data)
                    return parsed
                event, data = "", ""
        raise EOFError


async def stream_latency(base: str, key: str, app: Tidings, samples: int) -> dict[str, Any]:
    app.recipients.upsert("r1", email="r1@example.com")
    token = app.inbox_token("r1")
    end_to_end: list[float] = []
    write: list[float] = []
    async with (
        httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(30, read=120)) as c,
        c.stream("GET", "/api/v1/inbox/stream", params={"token": token}) as response,
    ):
        stream = Stream(response)
        await stream.next("ready")
        headers = {"Authorization": f"Bearer {key}"}
        # the first event waits for the worker process to start: not measured
        warmup = {"name": "bench.notify", "payload": {"to": "r1", "n": -1}}
        await c.post("/api/v1/events", json=warmup, headers=headers)
        await stream.next("created")
        for n in range(samples):
            started = time.monotonic()
            body = {"name": "bench.notify", "payload": {"to": "r1", "n": n}}
            await c.post("/api/v1/events", json=body, headers=headers)
            created = await stream.next("created")
            end_to_end.append(time.monotonic() - started)
            # a write straight to the database (another process): the stream's own latency
            started = time.monotonic()
            await asyncio.to_thread(app.inbox.mark_read, "r1", [created["item_id"]])
            await stream.next("read")
            write.append(time.monotonic() - started)
    return {
        "samples": samples,
        "write_to_stream_p50_ms": round(percentile(write, 50) * 1000, 1),
        "write_to_stream_p99_ms": round(percentile(write, 99) * 1000, 1),
        "event_to_stream_p50_ms": round(percentile(end_to_end, 50) * 1000, 1),
        "event_to_stream_p99_ms": round(percentile(end_to_end, 99) * 1000, 1),
    }


def measure_store(kind: str, folder: Path, quick: bool) -> dict[str, Any]:
    with database(kind, folder) as url:
        app = Tidings(url, environment="dev", templates=ROOT / "bench" / "server_templates")
        app.notification_type("ping", channels=("in_app",))
        key = create_key(app.store, "dev", name="bench", scope="publish", now=app.clock.now())
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        try:
            with process("serve", "--port", str(port), url=url) as server:
                wait_ready(base, server)
                log(f"{kind}: POST /api/v1/events, {CLIENTS} clients")
                seconds = 5.0 if quick else 15.0
                events = asyncio.run(load(base, key.secret, seconds, warmup=1.0))
                log(f"{kind}: {events}")
                with process("worker", "--poll-interval", "1", url=url):
                    samples = 15 if quick else 50
                    stream = asyncio.run(stream_latency(base, key.secret, app, samples))
                log(f"{kind}: {stream}")
        finally:
            app.close()
    return {"events": events, "stream": stream}


def versions(stores: list[str]) -> dict[str, Any]:
    info: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "clients": CLIENTS,
    }
    if "postgresql" in stores:
        with psycopg.connect(PG_URL) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            info["postgresql"] = str(row[0]) if row else "?"
    return info


def markdown(result: dict[str, Any]) -> str:
    env = result["environment"]
    rows = []
    for kind in STORES:
        r = result.get(kind)
        if not isinstance(r, dict):
            continue
        e, s = r["events"], r["stream"]
        rows.append(
            f"| {kind} | {e['requests_per_s']:,} | {e['p50_ms']} | {e['p99_ms']} | {e['errors']} "
            f"| {s['write_to_stream_p50_ms']} / {s['write_to_stream_p99_ms']} "
            f"| {s['event_to_stream_p50_ms']} / {s['event_to_stream_p99_ms']} |"
        )
    table = "\n".join(rows)
    return f"""{BEGIN}
## HTTP API (bench/server.py)

{env["date"]}, {env["cores"]} cores, Python {env["python"]}, PostgreSQL \
{env.get("postgresql", "-")}, load average at start {env["load_average_at_start"]}.
`tidings serve` in its own process; {env["clients"]} concurrent httpx clients on loopback
in the benchmark process (sharing the same cores) post `{{"name", "payload"}}` events
with a publish key; each event starts one run (no worker runs meanwhile, so every
request is a full write: key check, event row, run row). On a machine shared with other
work (see the load average) these are floors rather than ceilings.

| store | POST /api/v1/events req/s | p50 ms | p99 ms | errors \
| inbox write → stream p50 / p99 ms | event → inbox stream p50 / p99 ms |
|---|---|---|---|---|---|---|
{table}

*inbox write → stream*: another process marks an inbox item read in the database; the
time until the open SSE stream delivers the `read` event (PostgreSQL: the trigger's
NOTIFY wakes the stream; SQLite: the server's 20 ms change check). *event → inbox
stream*: `POST /api/v1/events` whose task calls `ctx.notify` (in-app), with
`tidings worker` in a third process, until the `created` event arrives on the stream
(includes the worker picking up the run and the notification's own run).
Percentiles are nearest-rank.
{END}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description="tidings HTTP API benchmarks")
    parser.add_argument("--quick", action="store_true", help="5 s of load, 15 stream samples")
    parser.add_argument("--store", action="append", choices=STORES, help="only this store")
    parser.add_argument("--no-write", action="store_true", help="do not write RESULTS.md")
    parser.add_argument(
        "--key-cache-seconds",
        type=float,
        help="the server's API key cache (default: the server's; 0 = a look-up per request)",
    )
    args = parser.parse_args()
    if args.key_cache_seconds is not None:
        os.environ["BENCH_KEY_CACHE_SECONDS"] = str(args.key_cache_seconds)
    stores: list[str] = args.store or list(STORES)
    result: dict[str, Any] = {"environment": versions(stores)}
    with tempfile.TemporaryDirectory(prefix="tidings-bench-server-") as d:
        for kind in stores:
            result[kind] = measure_store(kind, Path(d), args.quick)
    if not args.no_write:
        write_section("server", markdown(result))
        log(f"wrote {RESULTS}")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
