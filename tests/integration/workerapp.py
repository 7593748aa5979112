"""The app the integration tests run in real worker processes.

The test process imports it to trigger runs; each worker process runs it as
``python -m tests.integration.workerapp --db sqlite:////abs/path.db ...``. Tasks are
found by id, so both sides agree whatever name the module is imported under.

Every side effect is one line ``<run_id> <what> <pid>`` appended to the file named in
the payload (``out``), written with a single ``write`` on an ``O_APPEND`` descriptor so
lines from concurrent processes never interleave. The PostgreSQL tasks (``pg_*``) record
their effects in a table instead (see ``pgeffects``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from tidings import Batch, Context, Debounce, RateLimit, Retry, Singleton, Tidings

from . import pgeffects

app = Tidings(environment="integration")

RELEASE_TIMEOUT = 60.0


# -- side effects --------------------------------------------------------------------
def append(out: str, run_id: str, what: str) -> int:
    """Append ``<run_id> <what> <pid>`` to ``out``; return this process's pid."""
    pid = os.getpid()
    fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{run_id} {what} {pid}\n".encode())
    finally:
        os.close(fd)
    return pid


def count(out: str, run_id: str, what: str) -> int:
    path = Path(out)
    if not path.exists():
        return 0
    return sum(1 for line in path.read_text().splitlines() if line.split()[:2] == [run_id, what])


def block_until_released(out: str, run_id: str, release: str) -> int:
    """Sync step (runs in a worker thread): announce, then wait for the release file."""
    append(out, run_id, "two-start")
    deadline = time.monotonic() + RELEASE_TIMEOUT
    while not os.path.exists(release):
        if time.monotonic() > deadline:
            raise TimeoutError(f"release file {release} never appeared")
        time.sleep(0.02)
    return append(out, run_id, "two-end")


def fail_first_time(out: str, run_id: str) -> int:
    pid = append(out, run_id, "b")
    if count(out, run_id, "b") == 1:
        raise RuntimeError("b fails on its first attempt")
    return pid


# -- tasks ---------------------------------------------------------------------------
@app.task(retry=Retry(max_attempts=5, initial=0.1))
async def crashable(ctx: Context, payload: dict[str, Any]) -> dict[str, int]:
    """Step one, then step two which blocks until ``payload['release']`` exists."""
    out = payload["out"]
    one = await ctx.step("one", append, out, ctx.run_id, "one")
    two = await ctx.step("two", block_until_released, out, ctx.run_id, payload["release"])
    return {"one": one, "two": two}


def resume_blocked(out: str, run_id: str, release: str) -> int:
    """Sync step after a token resumed the run: announce, wait for the release file."""
    append(out, run_id, "resume-start")
    deadline = time.monotonic() + RELEASE_TIMEOUT
    while not os.path.exists(release):
        if time.monotonic() > deadline:
            raise TimeoutError(f"release file {release} never appeared")
        time.sleep(0.02)
    return append(out, run_id, "resume-end")


@app.task(retry=Retry(max_attempts=5, initial=0.1))
async def token_waiter(ctx: Context, payload: dict[str, Any]) -> Any:
    """Create a token (its id written out once), wait on it, then a blocking step."""
    out = payload["out"]
    token = await ctx.create_token(timeout=timedelta(minutes=5))
    await ctx.step("announce", append, out, ctx.run_id, f"token:{token.id}")
    result = await ctx.wait_for_token(token)
    await ctx.step("after", resume_blocked, out, ctx.run_id, payload["release"])
    return None if result is None else result.data


@app.task(retry=Retry(max_attempts=3, initial=0.2, jitter=False))
async def sleep_then_retry(ctx: Context, payload: dict[str, Any]) -> list[int]:
    out = payload["out"]
    a = await ctx.step("a", append, out, ctx.run_id, "a")
    await ctx.sleep(timedelta(seconds=0.3))
    b = await ctx.step("b", fail_first_time, out, ctx.run_id)
    c = await ctx.step("c", append, out, ctx.run_id, "c")
    return [a, b, c]


@app.task
async def three_steps(ctx: Context, payload: dict[str, Any]) -> int:
    out = payload["out"]
    for name in ("s1", "s2", "s3"):
        await ctx.step(name, append, out, ctx.run_id, name)
    return int(payload.get("n", 0))


@app.task
async def parked(ctx: Context, payload: dict[str, Any]) -> int:
    """Triggered with a delay for the bulk actions of test_bulk_processes to act on."""
    return int(payload["n"])


async def _slow(out: str, run_id: str, seconds: float) -> str:
    append(out, run_id, "slow-start")
    await asyncio.sleep(seconds)
    append(out, run_id, "slow-end")
    return "done"


@app.task
async def slow_step(ctx: Context, payload: dict[str, Any]) -> str:
    result: str = await ctx.step("slow", _slow, payload["out"], ctx.run_id, payload["seconds"])
    return result


async def _hang(out: str, run_id: str) -> str:
    append(out, run_id, "two-start")
    try:
        await asyncio.sleep(60)
    finally:
        append(out, run_id, "two-interrupted")
    return "finished"  # pragma: no cover - only if never interrupted


@app.task
async def hangs(ctx: Context, payload: dict[str, Any]) -> str:
    out = payload["out"]
    await ctx.step("one", append, out, ctx.run_id, "one")
    result: str = await ctx.step("two", _hang, out, ctx.run_id)
    return result


# -- PostgreSQL tasks: effects go to the table named in the payload -------------------
@app.task
async def pg_steps(ctx: Context, payload: dict[str, Any]) -> list[str]:
    """Steps ``s1``, a durable ``ctx.sleep(payload['sleep'])`` (if given), ``s2``, ``s3``."""
    fx, table = payload["fx"], payload["table"]
    done = [await ctx.step("s1", pgeffects.record, fx, table, ctx.run_id, "s1")]
    if payload.get("sleep") is not None:
        await ctx.sleep(payload["sleep"])
    for name in ("s2", "s3"):
        done.append(await ctx.step(name, pgeffects.record, fx, table, ctx.run_id, name))
    return [d["exec"] for d in done]


def _record_then_cut(
    fx: str, table: str, run_id: str, step: str, cut: dict[str, str] | None
) -> dict[str, Any]:
    """Record the effect; on the first execution, have the commit of this step cut."""
    result = pgeffects.record(fx, table, run_id, step)
    if cut is not None and pgeffects.executions(fx, table, run_id, step) == 1:
        pgeffects.terminate_when_blocked(cut["dsn"], cut["schema"], table, run_id, step)
    return result


def _gate_then_record(fx: str, table: str, run_id: str, step: str, gate: str) -> dict[str, Any]:
    pgeffects.wait_for_file(gate)
    return pgeffects.record(fx, table, run_id, step)


@app.task
async def pg_cut(ctx: Context, payload: dict[str, Any]) -> list[str]:
    """``s1``, then ``payload['step']`` (its commit is interfered with), then ``s3``.

    With ``payload['gate']`` the middle step first waits for that file; with
    ``payload['terminate']`` (``{"dsn", "schema"}``) its first execution has its commit's
    connection terminated (``pgeffects.terminate_when_blocked``).
    """
    fx, table, middle = payload["fx"], payload["table"], payload["step"]
    done = [await ctx.step("s1", pgeffects.record, fx, table, ctx.run_id, "s1")]
    if payload.get("gate") is not None:
        args: tuple[Any, ...] = (_gate_then_record, fx, table, ctx.run_id, middle, payload["gate"])
    else:
        args = (_record_then_cut, fx, table, ctx.run_id, middle, payload.get("terminate"))
    done.append(await ctx.step(middle, *args))
    done.append(await ctx.step("s3", pgeffects.record, fx, table, ctx.run_id, "s3"))
    return [d["exec"] for d in done]


async def _effect_then_work(
    fx: str, table: str, run_id: str, step: str, seconds: float, stamps: str | None
) -> dict[str, Any]:
    """Record the effect, then work ``seconds`` (an async step: cancellable)."""
    if stamps is not None:
        stamp(stamps, run_id, f"start:{step}")
    done = await asyncio.to_thread(pgeffects.record, fx, table, run_id, step)
    await asyncio.sleep(seconds)
    return done


@app.task
async def pg_slow_effects(ctx: Context, payload: dict[str, Any]) -> list[str]:
    """Steps ``payload['steps']`` (default ``["effect"]``), each recording its effect and
    then working ``payload['seconds']``. With ``payload['stamps']`` each execution also
    appends ``<run_id> start:<step> <pid> <unix time>`` to that file before its effect
    (a file, so it is written even while the database cannot be reached)."""
    fx, table, seconds = payload["fx"], payload["table"], float(payload["seconds"])
    done = []
    for name in payload.get("steps", ["effect"]):
        args = (fx, table, ctx.run_id, name, seconds, payload.get("stamps"))
        done.append(await ctx.step(name, _effect_then_work, *args))
    return [d["exec"] for d in done]


# -- flow control: wall-clock stamps of when work began and ended ---------------------
def stamp(out: str, run_id: str, what: str) -> None:
    """Append ``<run_id> <what> <pid> <unix time>`` to ``out`` (one write)."""
    fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{run_id} {what} {os.getpid()} {time.time():.6f}\n".encode())
    finally:
        os.close(fd)


async def _flow_work(out: str, run_id: str, key: str, seconds: float) -> None:
    stamp(out, run_id, f"start:{key}")
    await asyncio.sleep(seconds)
    stamp(out, run_id, f"end:{key}")


@app.task(concurrency=2, concurrency_key="key")
async def flow_concurrency(ctx: Context, payload: dict[str, Any]) -> None:
    """At most two running per ``payload['key']``, across every worker process."""
    args = (payload["out"], ctx.run_id, payload["key"], payload["seconds"])
    await ctx.step("work", _flow_work, *args)


@app.task(rate_limit=RateLimit(1, timedelta(seconds=0.5), key="key"))
async def flow_rate(ctx: Context, payload: dict[str, Any]) -> None:
    """At most one start per 0.5 s per ``payload['key']``, across every worker process."""
    await ctx.step("work", _flow_work, payload["out"], ctx.run_id, payload["key"], 0.0)


# -- debounce, batch, singleton: each run stamps every payload it got -----------------
def _took(out: str, run_id: str, key: str, items: list[Any]) -> None:
    for item in items:
        stamp(out, run_id, f"took:{key}:{item['n']}")


@app.task(debounce=Debounce(timedelta(seconds=0.3), key="key", keep="all"))
async def flow_debounce(ctx: Context, payload: list[dict[str, Any]]) -> None:
    """Every payload of a burst per ``key``, in one run."""
    first = payload[0]
    await ctx.step("took", _took, first["out"], ctx.run_id, first["key"], payload)


@app.task(batch=Batch(max_size=7, timeout=timedelta(seconds=0.3), key="key"))
async def flow_batch(ctx: Context, payload: list[dict[str, Any]]) -> None:
    """At most seven payloads per run, per ``key``."""
    first = payload[0]
    await ctx.step("took", _took, first["out"], ctx.run_id, first["key"], payload)


@app.task(singleton=Singleton(key="key"))
async def flow_singleton(ctx: Context, payload: dict[str, Any]) -> None:
    """One active run per ``key``: its work is stamped to count overlaps."""
    args = (payload["out"], ctx.run_id, payload["key"], payload["seconds"])
    await ctx.step("work", _flow_work, *args)


async def _until_cancelled(out: str, run_id: str, seconds: float) -> None:
    stamp(out, run_id, "start:x")
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        stamp(out, run_id, "interrupted:x")
        raise
    stamp(out, run_id, "end:x")


@app.task(singleton=Singleton(key="key", on_conflict="cancel"))
async def flow_singleton_cancel(ctx: Context, payload: dict[str, Any]) -> None:
    """A newer trigger of the same ``key`` cancels this run, interrupting its work."""
    await ctx.step("work", _until_cancelled, payload["out"], ctx.run_id, payload["seconds"])


def trigger_burst(db: str, task: str, first: int, count: int, keys: int, out: str) -> None:
    """Trigger ``count`` runs of ``task`` numbered from ``first`` over ``keys`` keys,
    printing ``<n> <run id>`` for each (the triggering side of several processes)."""
    app.database_url = db
    lines = []
    for n in range(first, first + count):
        payload = {"out": out, "key": f"k{n % keys}", "n": n, "seconds": 0.05}
        lines.append(f"{n} {app.trigger(task, payload).id}")
    app.close()
    print("\n".join(lines), flush=True)


# -- worker entry point --------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "trigger":
        db, task, first, count, keys, out = sys.argv[2:8]
        trigger_burst(db, task, int(first), int(count), int(keys), out)
        return
    parser = argparse.ArgumentParser(prog="python -m tests.integration.workerapp")
    parser.add_argument("--db", required=True, help="sqlite:////absolute/path.db or postgresql://")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--lease-seconds", type=float, default=30.0)
    parser.add_argument("--grace-seconds", type=float, default=30.0)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(process)d %(threadName)s %(name)s %(levelname)s %(message)s",
    )
    app.database_url = args.db
    app.lease = timedelta(seconds=args.lease_seconds)
    worker = app.worker(
        concurrency=args.concurrency,
        poll_interval=0.05,
        grace=timedelta(seconds=args.grace_seconds),
    )
    asyncio.run(worker.run(install_signal_handlers=True))


if __name__ == "__main__":
    main()
