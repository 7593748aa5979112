"""PostgreSQL pushes wake-ups: the LISTEN thread calls its subscribers, and an idle
worker subscribed to it starts a run triggered elsewhere without any poll."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest
from psycopg import sql

from tests.conftest import postgres_admin
from tidings import Context, Tidings
from tidings.engine import worker as worker_module

PgSchema = tuple[str, str]


def _wait(check: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.005)


def _apps(url: str) -> tuple[Tidings, Tidings]:
    apps = Tidings(url), Tidings(url)
    for a in apps:

        @a.task
        async def job(ctx: Context, payload: None) -> str:
            return "done"

    return apps


def test_subscribers_are_called_on_a_trigger_from_another_instance(pg_schema: PgSchema) -> None:
    url, _ = pg_schema
    watcher, writer = _apps(url)
    calls: list[str] = []
    try:
        unsubscribe = watcher.store.subscribe_wakeups(lambda: calls.append("a"))
        assert unsubscribe is not None
        watcher.store.subscribe_wakeups(lambda: calls.append("b"))
        writer.trigger("job")
        _wait(lambda: sorted(calls) == ["a", "b"], "wake-up of both subscribers")
        unsubscribe()
        writer.trigger("job")
        _wait(lambda: calls.count("b") == 2, "second wake-up")
        time.sleep(0.2)
        assert calls.count("a") == 1  # unsubscribed
    finally:
        watcher.close()
        writer.close()


def test_a_lost_listen_connection_wakes_the_subscribers(pg_schema: PgSchema) -> None:
    """Notifications may be missed while LISTEN reconnects: subscribers must look again."""
    url, schema = pg_schema
    watcher, _ = _apps(url)
    woken = threading.Event()
    try:
        watcher.store.subscribe_wakeups(woken.set)
        admin = postgres_admin()
        query = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = %s"
        listen = sql.SQL("LISTEN {}").format(sql.Identifier(f"{schema}_wake")).as_string(admin)
        killed = admin.execute(query, [listen]).fetchall()
        admin.close()
        assert killed == [(True,)]
        assert woken.wait(5), "the subscriber was not woken after its LISTEN connection died"
    finally:
        watcher.close()


def test_an_idle_worker_is_woken_by_the_listener_not_by_a_poll(
    pg_schema: PgSchema, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = pg_schema
    worker_app, client = _apps(url)
    # No poll of any kind within the test: neither the idle poll nor the marker poll a
    # store without pushed wake-ups would use. Only the listener's callback can wake it.
    monkeypatch.setattr(worker_module, "CHANGE_POLL", 120.0)
    worker = worker_app.worker(poll_interval=120)
    thread = threading.Thread(target=asyncio.run, args=(worker.run(),), daemon=True)
    thread.start()
    try:
        assert client.trigger("job").result(timeout=10) == "done"
        for _ in range(5):
            time.sleep(0.05)  # idle again
            assert client.trigger("job").result(timeout=10) == "done"
    finally:
        worker.stop()
        thread.join(timeout=30)
        worker_app.close()
        client.close()
    assert not thread.is_alive()
