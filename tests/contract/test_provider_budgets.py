"""The store's provider send budgets (migration 0011), on both stores."""

from __future__ import annotations

import threading
from datetime import timedelta

from tests.conftest import START
from tidings.store import Store, open_store

HOLD = START + timedelta(minutes=1)
SECOND = timedelta(seconds=1)


def budgets(database_url: str) -> Store:
    store = open_store(database_url)
    store.migrate()
    return store


def test_admits_up_to_the_limit_then_names_when_room_frees(database_url: str) -> None:
    store = budgets(database_url)
    try:
        admit = store.budgets.admit
        assert admit("resend:a", 2, SECOND, "s1", HOLD, START) is None
        assert admit("resend:a", 2, SECOND, "s2", HOLD, START) is None
        # both still in flight: assumed to end now, so room frees one period from now
        assert admit("resend:a", 2, SECOND, "s3", HOLD, START) == START + SECOND
        assert admit("twilio:b", 2, SECOND, "t1", HOLD, START) is None  # another budget
        store.budgets.finish("resend:a", "s1", START + timedelta(milliseconds=100))
        store.budgets.finish("resend:a", "s2", START + timedelta(milliseconds=300))
        later = START + timedelta(milliseconds=500)
        assert admit("resend:a", 2, SECOND, "s3", HOLD, later) == START + timedelta(
            milliseconds=1100
        )
        # a send counts until one period after it ended, not after it started
        assert (
            admit("resend:a", 2, SECOND, "s3", HOLD, START + timedelta(milliseconds=1100)) is None
        )
        assert admit("resend:a", 2, SECOND, "s4", HOLD, START + timedelta(milliseconds=1200)) == (
            START + timedelta(milliseconds=1300)
        )
    finally:
        store.close()


def test_a_send_never_finished_frees_its_place_after_its_hold(database_url: str) -> None:
    store = budgets(database_url)
    try:
        hold = START + timedelta(seconds=30)
        assert store.budgets.admit("expo:c", 1, SECOND, "lost", hold, START) is None
        just_before = hold + SECOND - timedelta(microseconds=1)
        assert store.budgets.admit("expo:c", 1, SECOND, "next", hold, just_before)
        assert store.budgets.admit("expo:c", 1, SECOND, "next", hold, hold + SECOND) is None
    finally:
        store.close()


def test_concurrent_admissions_from_separate_stores_never_exceed_the_limit(
    database_url: str,
) -> None:
    budgets(database_url).close()
    stores = [budgets(database_url) for _ in range(4)]
    admitted: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(len(stores))

    def contend(n: int, store: Store) -> None:
        start.wait()
        for i in range(10):
            send_id = f"w{n}-{i}"
            if store.budgets.admit("resend:d", 5, SECOND, send_id, HOLD, START) is None:
                with lock:
                    admitted.append(send_id)

    threads = [threading.Thread(target=contend, args=(n, s)) for n, s in enumerate(stores)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        for s in stores:
            s.close()
    assert len(admitted) == 5
