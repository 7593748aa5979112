"""Self-fencing: a worker whose lease renewals do not get through abandons its attempt
before the lease can expire, and starts no step meanwhile; the run resumes from its
last commit once the database lets the renewal (or a new claim) through.

"Cannot renew" is made real: another connection holds the lock the renewal needs (the
run's row on PostgreSQL, the write lock on SQLite) for longer than the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator

import psycopg
from psycopg import sql

from tidings import Context, RunStatus, Tidings

from .test_worker import running

LEASE = 2.0


@contextlib.contextmanager
def renewals_blocked(app: Tidings, run_id: str) -> Iterator[None]:
    """Hold what the run's lease renewal must wait for until the block exits."""
    url = app.database_url
    if url.startswith("sqlite:"):
        lite = sqlite3.connect(url[len("sqlite:///") :], isolation_level=None)
        lite.execute("BEGIN IMMEDIATE")  # every other writer waits
        try:
            yield
        finally:
            lite.execute("ROLLBACK")
            lite.close()
        return
    db = app.store.db  # type: ignore[attr-defined]
    with psycopg.connect(db.conninfo) as conn:  # one transaction until the block exits
        conn.execute(
            sql.SQL("SELECT 1 FROM {}.runs WHERE id = %s FOR UPDATE").format(
                sql.Identifier(db.schema)
            ),
            [run_id],
        )
        yield
        conn.rollback()


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_a_worker_that_cannot_renew_abandons_its_attempt_before_the_lease_expires(
    make_app: Callable[..., Tidings],
) -> None:
    app = make_app(lease=LEASE)
    seen: list[tuple[str, float]] = []
    lock = threading.Lock()

    def note(what: str) -> str:
        with lock:
            seen.append((what, time.monotonic()))
        return what

    def count(what: str) -> int:
        with lock:
            return sum(1 for w, _ in seen if w == what)

    async def slow_once() -> str:
        note("two-start")
        try:
            if count("two-start") == 1:
                await asyncio.sleep(60)  # the first execution is in flight at the cut
        except asyncio.CancelledError:
            note("two-cancelled")
            raise
        return "two"

    @app.task
    async def fenced(ctx: Context) -> list[str]:
        one = await ctx.step("one", lambda: note("one"))
        two = await ctx.step("two", slow_once)
        three = await ctx.step("three", lambda: note("three"))
        return [one, two, three]

    with running(app, concurrency=2):
        handle = app.trigger(fenced)
        wait_for(lambda: count("two-start") == 1, 30, "step two to start")
        time.sleep(LEASE / 2)  # a renewal or two got through while it ran
        with renewals_blocked(app, handle.id):
            blocked_at = time.monotonic()
            wait_for(lambda: count("two-cancelled") == 1, 3 * LEASE, "the attempt to be fenced")
            cancelled_at = dict(seen)["two-cancelled"]
            # the last renewal that got through came before the block: the lease ran
            # out at most LEASE after it, and the attempt had stopped by then
            assert cancelled_at - blocked_at < LEASE
            time.sleep(LEASE)  # well past the lease: nothing more starts while blocked
            assert count("three") == 0
            assert count("two-start") == 1
        assert handle.result(timeout=30) == ["one", "two", "three"]

    run = app.get_run(handle.id)
    assert run.status is RunStatus.COMPLETED
    assert [(s.name, s.status) for s in run.steps] == [
        ("one", "completed"),
        ("two", "completed"),
        ("three", "completed"),
    ]
    assert (count("one"), count("two-start"), count("three")) == (1, 2, 1)
