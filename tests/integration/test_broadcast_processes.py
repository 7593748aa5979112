"""A broadcast across real worker processes: the worker routing it is killed with
SIGKILL mid-broadcast and a second one finishes it. Every recipient is then in the
outbox and in the inbox exactly once (both stores)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tidings import Tidings
from tidings.records import RunStatus

from .broadcastapp import app as broadcast_app
from .conftest import REPO_ROOT, WorkerProcess, wait_for_status, wait_until

pytestmark = pytest.mark.timeout(300)
N = 5000


def _start(db_url: str, tmp_path: Path, name: str) -> WorkerProcess:
    path = tmp_path / f"{name}.log"
    log = path.open("wb")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "src")])
    cmd = [sys.executable, "-m", "tests.integration.broadcastapp", "--db", db_url]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    worker = WorkerProcess(name, proc, log, path)
    worker.wait_ready()
    return worker


@pytest.fixture
def app(database_url: str) -> Iterator[Tidings]:
    broadcast_app.close()
    broadcast_app.database_url = database_url
    try:
        yield broadcast_app
    finally:
        broadcast_app.close()


def test_sigkill_mid_broadcast_then_a_second_worker_finishes_exactly_once(
    app: Tidings, database_url: str, tmp_path: Path
) -> None:
    ids = [f"r{i:05d}" for i in range(N)]
    for rid in ids:
        app.recipients.upsert(rid, email=f"{rid}@example.com")
    app.topics.subscribe("everyone", ids)
    started: list[WorkerProcess] = []
    try:
        a = _start(database_url, tmp_path, "w1")
        started.append(a)
        handle = app.notify("alert", to=ids, data={"name": "An"})
        # kill it once some pages are recorded and others are not
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            progress = app.broadcasts.get(handle.id)
            if progress.routed > 0:
                break
            time.sleep(0.005)
        a.signal(signal.SIGKILL)
        assert a.wait_exit(10) == -signal.SIGKILL
        at_kill = app.broadcasts.get(handle.id)
        assert 0 < at_kill.routed < N, at_kill  # the kill landed mid-broadcast
        b = _start(database_url, tmp_path, "w2")
        started.append(b)
        wait_for_status(app, handle.run_id, RunStatus.COMPLETED, timeout=240)
        done = app.broadcasts.get(handle.id)
        assert (done.total, done.routed, done.finished) == (N, N, True)

        def all_sent() -> bool:
            return app.broadcasts.get(handle.id).counts.get("email", {}).get("sent") == N

        wait_until(all_sent, 240, "every email to be sent")
        outbox = Counter(e.recipient_id for e in app.store.notifications.outbox(
            None, None, "email", 10 * N))  # fmt: skip
        assert outbox == Counter({rid: 1 for rid in ids})
        inbox = Counter(r for r in ids for _ in app.inbox.list(r))
        assert inbox == Counter({rid: 1 for rid in ids})
        final = app.broadcasts.get(handle.id).counts
        assert final == {"in_app": {"delivered": N}, "email": {"sent": N}}
    finally:
        for w in started:
            w.kill()
        for w in started:
            print(f"----- {w} -----\n{w.log()}")
