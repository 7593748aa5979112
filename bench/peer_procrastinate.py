"""Procrastinate side of bench/peers.py: run with the python of ``.venv-bench``.

Never imported by tidings or by bench/peers.py (Procrastinate is not a dependency of
tidings): peers.py runs this file as a subprocess and reads Procrastinate's tables itself
to time things.

    peer_procrastinate.py setup   URL                      apply the schema, then exit
    peer_procrastinate.py worker  URL --concurrency 10    print "ready", run until SIGTERM
    peer_procrastinate.py enqueue URL KIND N              defer N jobs, print JSON
    peer_procrastinate.py latency URL N                   N sequential defer -> start

KIND is ``noop`` or ``sleeper``: a no-op job deferred with ``schedule_in={"hours": 1}``,
the nearest thing Procrastinate has to a sleeping run (a row with a due time; a job
cannot pause half-way and keep its state).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import random
import time
from typing import Any

import procrastinate
import psycopg

QUEUE = "bench"


async def _noop() -> None:
    return None


def _app(url: str) -> Any:
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url))
    app.task(name="noop", queue=QUEUE)(_noop)
    return app


def setup(url: str) -> None:
    app = _app(url)
    with app.open():
        app.schema_manager.apply_schema()


def worker(url: str, concurrency: int) -> None:
    app = _app(url)
    print("ready", flush=True)  # defers sent before LISTEN starts are found by the first fetch
    # install_signal_handlers (the default): SIGTERM stops it gracefully
    app.run_worker(queues=[QUEUE], concurrency=concurrency, wait=True)


async def enqueue(url: str, kind: str, n: int) -> dict[str, Any]:
    app = _app(url)
    async with app.open_async():
        task = app.tasks["noop"]
        if kind == "sleeper":
            task = task.configure(schedule_in={"hours": 1})
        t0 = time.time()
        for _ in range(n):
            await task.defer_async()
        t1 = time.time()
    return {"t0": t0, "t1": t1}


async def latency(url: str, n: int, gap: tuple[float, float]) -> dict[str, Any]:
    """Defer one no-op job, wait for its ``started`` event and its success."""
    app = _app(url)
    samples: list[float] = []
    rng = random.Random(n)  # the same gaps as the other systems
    query = (
        "SELECT j.status::text, e.at FROM procrastinate_jobs j "
        "LEFT JOIN procrastinate_events e ON e.job_id = j.id AND e.type = 'started' "
        "WHERE j.id = %s"
    )
    async with app.open_async():
        task = app.tasks["noop"]
        db = await psycopg.AsyncConnection.connect(url, autocommit=True)
        try:
            for _ in range(n):
                await asyncio.sleep(rng.uniform(*gap))  # the worker is idle again
                t0 = time.time()
                job_id = await task.defer_async()
                started = await _wait_started(db, query, job_id)
                samples.append((started - t0) * 1000)
        finally:
            await db.close()
    return {"samples_ms": samples}


async def _wait_started(db: psycopg.AsyncConnection[Any], query: str, job_id: int) -> float:
    while True:
        row = await (await db.execute(query, [job_id])).fetchone()
        if row is not None and row[0] == "succeeded":
            return float(row[1].timestamp())
        await asyncio.sleep(0.0005)


def _gap(text: str) -> tuple[float, float]:
    low, high = (float(x) for x in text.split(","))
    return low, high


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["setup", "worker", "enqueue", "latency", "version"])
    parser.add_argument("url", nargs="?")
    parser.add_argument("args", nargs="*")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--gap", default="0.02,0.07", help="MIN,MAX seconds between runs")
    args = parser.parse_args()
    if args.command == "version":
        print(json.dumps({"procrastinate": importlib.metadata.version("procrastinate")}))
    elif args.command == "setup":
        setup(args.url)
    elif args.command == "worker":
        worker(args.url, args.concurrency)
    elif args.command == "enqueue":
        result = asyncio.run(enqueue(args.url, args.args[0], int(args.args[1])))
        print(json.dumps(result))
    else:
        print(json.dumps(asyncio.run(latency(args.url, int(args.args[0]), _gap(args.gap)))))


if __name__ == "__main__":
    main()
