"""Fixtures that run real worker processes against one SQLite file."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest

from tidings import Tidings
from tidings.records import Run, RunStatus

from .workerapp import app as worker_app

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKER_MODULE = "tests.integration.workerapp"


def wait_until(
    predicate: Callable[[], object],
    timeout: float,
    what: str,
    interval: float = 0.02,
) -> None:
    """Poll ``predicate`` until it is truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)


class WorkerProcess:
    """One ``python -m tests.integration.workerapp`` process and its log file."""

    def __init__(self, name: str, proc: subprocess.Popen[bytes], log: IO[bytes], path: Path):
        self.name = name
        self.proc = proc
        self.pid = proc.pid
        self._log = log
        self.log_path = path

    def __repr__(self) -> str:
        return f"<worker {self.name} pid={self.pid} rc={self.proc.poll()}>"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until the worker loop runs (its signal handlers are installed by then)."""

        def ready() -> bool:
            if not self.alive():
                pytest.fail(f"{self} exited during start-up:\n{self.log()}")
            return " started (concurrency" in self.log()

        wait_until(ready, timeout, f"{self} to start")

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.pid, sig)

    def wait_exit(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self} did not exit within {timeout}s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL (works on a SIGSTOPped process too) and reap."""
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(10)
        finally:
            self._log.close()


class Workers:
    """Starts worker processes for one test; every one is killed at teardown."""

    def __init__(self, db_url: str, tmp_path: Path) -> None:
        self.db_url = db_url
        self.tmp_path = tmp_path
        self.started: list[WorkerProcess] = []

    def start(
        self,
        *,
        concurrency: int = 4,
        lease: float = 30.0,
        grace: float = 30.0,
        ready: bool = True,
    ) -> WorkerProcess:
        name = f"w{len(self.started) + 1}"
        log_path = self.tmp_path / f"{name}.log"
        log = log_path.open("wb")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), str(REPO_ROOT / "src"), env.get("PYTHONPATH")) if p
        )
        env.pop("TIDINGS_DATABASE_URL", None)
        env.pop("TIDINGS_LEASE_SECONDS", None)
        env["PYTHONUNBUFFERED"] = "1"
        cmd = [
            sys.executable,
            "-m",
            WORKER_MODULE,
            "--db",
            self.db_url,
            "--concurrency",
            str(concurrency),
            "--lease-seconds",
            str(lease),
            "--grace-seconds",
            str(grace),
        ]
        try:
            proc = subprocess.Popen(
                cmd, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        except BaseException:
            log.close()
            raise
        worker = WorkerProcess(name, proc, log, log_path)
        self.started.append(worker)
        if ready:
            worker.wait_ready()
        return worker

    def stop_safely(self, worker: WorkerProcess, attempts: int = 50) -> None:
        """SIGSTOP ``worker`` at a moment it does not hold the SQLite write lock.

        A process frozen inside a write transaction would block every other writer
        until it is resumed (SQLite cannot break another process's lock): that is a
        property of SQLite, not what these tests are about, so retry until the freeze
        lands outside a transaction.
        """
        path = self.db_url[len("sqlite:///") :]
        for _ in range(attempts):
            worker.signal(signal.SIGSTOP)
            time.sleep(0.05)  # let the stop take effect
            conn = sqlite3.connect(path, timeout=0.3, isolation_level=None)
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("ROLLBACK")
                return
            except sqlite3.OperationalError:
                worker.signal(signal.SIGCONT)
                time.sleep(0.05)
            finally:
                conn.close()
        pytest.fail(f"could not freeze {worker} outside a write transaction")

    def dump_logs(self) -> None:
        for w in self.started:
            print(f"----- {w} log -----\n{w.log()}")

    def kill_all(self) -> None:
        errors: list[BaseException] = []
        for w in self.started:
            try:
                w.kill()
            except BaseException as exc:  # keep killing the others
                errors.append(exc)
        if errors:
            raise errors[0]


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'tidings.db'}"


@pytest.fixture
def out_file(tmp_path: Path) -> Path:
    """The side-effect file steps append to."""
    return tmp_path / "effects.txt"


@pytest.fixture
def app(db_url: str) -> Iterator[Tidings]:
    """The workerapp's app, pointed at this test's database (migrated up front)."""
    worker_app.close()
    worker_app.database_url = db_url
    worker_app.store  # noqa: B018 - open and migrate before any worker starts
    try:
        yield worker_app
    finally:
        worker_app.close()


@pytest.fixture
def workers(db_url: str, tmp_path: Path, app: Tidings) -> Iterator[Workers]:
    group = Workers(db_url, tmp_path)
    try:
        yield group
    finally:
        group.kill_all()
        group.dump_logs()  # shown by pytest only when the test failed


def effects(out: Path) -> list[tuple[str, str, int]]:
    """The side-effect lines as ``(run_id, what, pid)``."""
    if not out.exists():
        return []
    result = []
    for line in out.read_text().splitlines():
        run_id, what, pid = line.split()
        result.append((run_id, what, int(pid)))
    return result


def effect_count(out: Path, run_id: str, what: str) -> int:
    return sum(1 for r, w, _ in effects(out) if r == run_id and w == what)


def wait_for_status(app: Tidings, run_id: str, status: RunStatus, timeout: float) -> Run:
    seen: list[Run] = []

    def reached() -> bool:
        run = app.get_run(run_id)
        seen[:] = [run]
        if run.status.finished and run.status is not status:
            detail = run.error.traceback if run.error else ""
            pytest.fail(f"run {run_id} ended {run.status}, expected {status}\n{detail}")
        return run.status is status

    wait_until(reached, timeout, f"run {run_id} to be {status}", interval=0.05)
    return seen[0]
