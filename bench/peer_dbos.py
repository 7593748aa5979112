"""DBOS Transact side of bench/peers.py: run with the python of ``.venv-bench``.

Never imported by tidings or by bench/peers.py (DBOS is not a dependency of tidings):
peers.py runs this file as a subprocess and reads DBOS's tables itself to time things.

    peer_dbos.py setup   URL --concurrency 10 --poll 1.0   schema + queues, then exit
    peer_dbos.py worker  URL --concurrency 10 --poll 1.0   print "ready", run until SIGTERM
    peer_dbos.py enqueue URL KIND N                         enqueue N workflows, print JSON
    peer_dbos.py latency URL N                              N sequential enqueue -> start

KIND is ``noop``, ``three_steps`` (queue ``bench``, worker_concurrency as given) or
``sleeper`` (``DBOS.sleep_async(3600)``; queue ``sleepers``, no per-worker limit, since a
sleeping DBOS workflow keeps its slot: with a limit of 10 only 10 could ever sleep).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import random
import signal
import threading
import time
from typing import Any

import psycopg
from dbos import DBOS, DBOSClient

QUEUES = {"noop": "bench", "three_steps": "bench", "sleeper": "sleepers"}
SCHEMA = "dbos"


# -- the workflows under test (registered without decorators: mypy sees DBOS as Any) -----
async def _noop() -> None:
    return None


async def _trivial(i: int) -> int:
    return i


_step = DBOS.step(name="trivial")(_trivial)


async def _three_steps() -> int:
    a = await _step(1)
    b = await _step(2)
    c = await _step(3)
    return int(a + b + c)


async def _sleeper() -> None:
    await DBOS.sleep_async(3600)


def _launch(url: str, concurrency: int, poll: float) -> None:
    DBOS(config={"name": "bench", "system_database_url": url, "log_level": "WARNING"})
    DBOS.workflow(name="noop")(_noop)
    DBOS.workflow(name="three_steps")(_three_steps)
    DBOS.workflow(name="sleeper")(_sleeper)
    DBOS.launch()
    DBOS.register_queue("bench", worker_concurrency=concurrency or None, polling_interval_sec=poll)
    DBOS.register_queue("sleepers", polling_interval_sec=poll)


def setup(url: str, concurrency: int, poll: float) -> None:
    _launch(url, concurrency, poll)
    DBOS.destroy()


def worker(url: str, concurrency: int, poll: float) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    _launch(url, concurrency, poll)
    print("ready", flush=True)
    stop.wait()
    DBOS.destroy(workflow_completion_timeout_sec=0)


def enqueue(url: str, kind: str, n: int) -> dict[str, Any]:
    client = DBOSClient(system_database_url=url)
    options = {"queue_name": QUEUES[kind], "workflow_name": kind}
    t0 = time.time()
    for _ in range(n):
        client.enqueue(options)
    t1 = time.time()
    client.destroy()
    return {"t0": t0, "t1": t1}


def latency(url: str, n: int, gap: tuple[float, float]) -> dict[str, Any]:
    """Enqueue one no-op, wait for its dequeue (``started_at_epoch_ms``) and its end."""
    client = DBOSClient(system_database_url=url)
    options = {"queue_name": "bench", "workflow_name": "noop"}
    samples: list[float] = []
    rng = random.Random(n)  # the same gaps as the other systems
    query = (
        f"SELECT started_at_epoch_ms, status FROM {SCHEMA}.workflow_status WHERE workflow_uuid = %s"
    )
    with psycopg.connect(url, autocommit=True) as db:
        for _ in range(n):
            time.sleep(rng.uniform(*gap))  # the worker is idle again
            t0 = time.time()
            workflow_id = client.enqueue(options).get_workflow_id()
            while True:
                row = db.execute(query, [workflow_id]).fetchone()
                if row is not None and row[1] == "SUCCESS":
                    break
                time.sleep(0.0005)
            samples.append((int(row[0]) / 1000 - t0) * 1000)
    client.destroy()
    return {"samples_ms": samples}


def _gap(text: str) -> tuple[float, float]:
    low, high = (float(x) for x in text.split(","))
    return low, high


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["setup", "worker", "enqueue", "latency", "version"])
    parser.add_argument("url", nargs="?")
    parser.add_argument("args", nargs="*")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--poll", type=float, default=1.0)
    parser.add_argument("--gap", default="0.02,0.07", help="MIN,MAX seconds between runs")
    args = parser.parse_args()
    if args.command == "version":
        print(json.dumps({"dbos": importlib.metadata.version("dbos")}))
    elif args.command == "setup":
        setup(args.url, args.concurrency, args.poll)
    elif args.command == "worker":
        worker(args.url, args.concurrency, args.poll)
    elif args.command == "enqueue":
        print(json.dumps(enqueue(args.url, args.args[0], int(args.args[1]))))
    else:
        print(json.dumps(latency(args.url, int(args.args[0]), _gap(args.gap))))


if __name__ == "__main__":
    main()
