"""Fixtures that run real worker processes against one SQLite file or PostgreSQL schema."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import psycopg
import psycopg.sql
import pytest

from tidings import Tidings
from tidings.records import Run, RunStatus

from ..conftest import PG_SERVER, postgres_admin
from .pgcluster import PgCluster
from .pgeffects import EffectsTable
from .pgproxy import PgProxy
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
        prefix: Sequence[str] = (),
        env_extra: Mapping[str, str] | None = None,
    ) -> WorkerProcess:
        """Start a worker process; ``prefix`` goes before the interpreter (``faketime``,
        ``ip netns exec``), ``env_extra`` is added to its environment."""
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
        env.update(env_extra or {})
        cmd = [
            *prefix,
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


@dataclass
class PgEnv:
    """A fresh tidings schema, the workerapp's app on it, and a table for effects."""

    url: str
    schema: str
    app: Tidings
    effects: EffectsTable


@pytest.fixture
def pg() -> Iterator[PgEnv]:
    """Like ``pg_schema``, but its clean-up reconnects: the server may have restarted."""
    postgres_admin().close()  # skip, or fail if TIDINGS_REQUIRE_POSTGRES=1, if unreachable
    schema = f"tidings_test_{uuid.uuid4().hex}"
    url = f"{PG_SERVER}{'&' if '?' in PG_SERVER else '?'}schema={schema}"
    effects = EffectsTable(PG_SERVER)
    effects.create()
    worker_app.close()
    worker_app.database_url = url
    try:
        worker_app.store  # noqa: B018 - migrate before any worker starts
        yield PgEnv(url, schema, worker_app, effects)
    finally:
        worker_app.close()
        effects.drop()
        with psycopg.connect(PG_SERVER, autocommit=True, connect_timeout=10) as admin:
            admin.execute(
                psycopg.sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                    psycopg.sql.Identifier(schema)
                )
            )


@pytest.fixture
def pg_workers(pg: PgEnv, tmp_path: Path) -> Iterator[Workers]:
    """Worker processes on ``pg`` (set ``db_url`` to go through a proxy)."""
    group = Workers(pg.url, tmp_path)
    try:
        yield group
    finally:
        group.kill_all()
        group.dump_logs()


@pytest.fixture
def pg_proxy(pg: PgEnv) -> Iterator[PgProxy]:
    """A proxy in front of the test server that can cut transactions at COMMIT."""
    proxy = PgProxy(PG_SERVER)
    try:
        yield proxy
    finally:
        proxy.close()


@pytest.fixture
def pg_cluster(pg: PgEnv) -> Iterator[PgCluster]:
    """The local cluster, to restart; whatever the test did, it is left running."""
    try:
        cluster = PgCluster(PG_SERVER)
    except (LookupError, OSError, subprocess.CalledProcessError) as exc:
        message = f"cannot restart the PostgreSQL test server: {exc}"
        if os.environ.get("TIDINGS_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{message} (TIDINGS_REQUIRE_POSTGRES=1)")
        pytest.skip(message)
    try:
        yield cluster
    finally:
        cluster.ensure_up()


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
