"""Notifications across real worker processes killed with SIGKILL, on both stores.

Nothing is mocked: workers are ``python -m tests.integration.notifyapp`` and the email
provider's side effects are lines in a file, so "sent once" is checked against what the
provider really received.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tidings import Tidings
from tidings.records import RunStatus

from .conftest import REPO_ROOT, WorkerProcess, wait_for_status, wait_until
from .notifyapp import app as notify_app

pytestmark = pytest.mark.timeout(120)


class NotifyWorkers:
    def __init__(self, db_url: str, tmp_path: Path, env: dict[str, str]) -> None:
        self.db_url, self.tmp_path, self.env = db_url, tmp_path, env
        self.started: list[WorkerProcess] = []

    def start(self) -> WorkerProcess:
        name = f"w{len(self.started) + 1}"
        path = self.tmp_path / f"{name}.log"
        log = path.open("wb")
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "src")])
        cmd = [sys.executable, "-m", "tests.integration.notifyapp", "--db", self.db_url]
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        worker = WorkerProcess(name, proc, log, path)
        self.started.append(worker)
        worker.wait_ready()
        return worker


@pytest.fixture
def app(database_url: str) -> Iterator[Tidings]:
    notify_app.close()
    notify_app.database_url = database_url
    notify_app.recipients.upsert("u1", email="u1@example.com")
    try:
        yield notify_app
    finally:
        notify_app.close()


@pytest.fixture
def workers(database_url: str, tmp_path: Path, app: Tidings) -> Iterator[NotifyWorkers]:
    env = {
        "NOTIFY_GATEWAY_OUT": str(tmp_path / "gateway.txt"),
        "NOTIFY_GATEWAY_HOLD": str(tmp_path / "hold"),
    }
    group = NotifyWorkers(database_url, tmp_path, env)
    try:
        yield group
    finally:
        for w in group.started:
            w.kill()
        for w in group.started:
            print(f"----- {w} -----\n{w.log()}")


def _gateway(tmp_path: Path) -> list[tuple[str, str, int]]:
    path = tmp_path / "gateway.txt"
    if not path.exists():
        return []
    return [(a, b, int(c)) for a, b, c in (x.split() for x in path.read_text().splitlines())]


def test_a_worker_killed_after_notifying_never_sends_again(
    app: Tidings, workers: NotifyWorkers, tmp_path: Path
) -> None:
    out, release = tmp_path / "effects.txt", tmp_path / "release"
    a = workers.start()
    run_id = app.trigger(
        "notify-then-block", {"to": "u1", "out": str(out), "release": str(release)}
    ).id
    wait_until(lambda: out.exists() and "blocked" in out.read_text(), 30, "the task to block")

    def emailed() -> bool:
        return [d.status for d in app.deliveries.list(to="u1", channel="email")] == ["sent"]

    wait_until(emailed, 30, "the email to be sent")
    a.signal(signal.SIGKILL)
    assert a.wait_exit(10) == -signal.SIGKILL
    release.touch()
    b = workers.start()
    run = wait_for_status(app, run_id, RunStatus.COMPLETED, timeout=60)

    assert run.result == {"pid": b.pid, "deliveries": 2}
    assert [s.name for s in run.steps] == ["alert", "block"]
    assert len(app.deliveries.list(to="u1")) == 2
    assert len(app.inbox.list("u1")) == 1
    sends = _gateway(tmp_path)
    assert [(k, pid) for k, _, pid in sends] == [("start", a.pid), ("accepted", a.pid)]
    (email,) = app.deliveries.list(to="u1", channel="email")
    assert (email.status, email.provider_message_id) == ("sent", f"gw-{email.id}")


def test_a_send_cut_by_sigkill_is_retried_with_the_same_idempotency_key(
    app: Tidings, workers: NotifyWorkers, tmp_path: Path
) -> None:
    hold = tmp_path / "hold"
    hold.touch()
    a = workers.start()
    h = app.notify("alert", to="u1", data={"name": "An"}, channels=["email"], dedup_key="lab-1")
    wait_until(lambda: _gateway(tmp_path) != [], 30, "the send to start")
    a.signal(signal.SIGKILL)
    assert a.wait_exit(10) == -signal.SIGKILL
    hold.unlink()
    b = workers.start()
    result = h.result(timeout=60)
    (delivery,) = result.deliveries

    def sent() -> bool:
        return app.deliveries.get(delivery.id).status == "sent"

    wait_until(sent, 60, "the email to be sent")
    d = app.deliveries.get(delivery.id)
    # The provider saw the message twice (the first send was cut off before it could be
    # recorded) but with one idempotency key: a service honouring it sends once.
    assert _gateway(tmp_path) == [
        ("start", d.id, a.pid),
        ("start", d.id, b.pid),
        ("accepted", d.id, b.pid),
    ]
    assert [(x["outcome"], x["provider"]) for x in d.history] == [("sent", "file-gateway")]
    assert app.notify("alert", to="u1", data={"name": "An"}, channels=["email"],
                      dedup_key="lab-1").id == h.id  # fmt: skip
