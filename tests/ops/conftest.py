"""Fixtures for the operations tests: the ``tidings`` command run for real, both stores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import psycopg.sql
import pytest

from ..conftest import PG_SERVER, postgres_admin

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
APP = "opsapp:app"


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a ``tidings`` subprocess: no TIDINGS_* of the developer's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(ROOT / "src")])
    env["COLUMNS"] = "200"
    env.update(extra)
    return env


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tidings.cli", *args],
        cwd=cwd,
        env=env or cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def fails(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    """The stderr of a command that must fail with one clear line, never a traceback."""
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    return result.stderr


def wait_until(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


@contextmanager
def worker_process(
    url: str, cwd: Path, *flags: str, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[str]]:
    """``tidings worker --app opsapp:app`` on ``url`` until the block ends (then killed)."""
    log = (cwd / "worker.log").open("w")
    argv = [sys.executable, "-m", "tidings.cli", "worker", "--app", APP]
    argv += ["--database-url", url, "--poll-interval", "0.1", *flags]
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env or cli_env(), stdout=log, stderr=subprocess.STDOUT, text=True
    )
    try:
        wait_until(lambda: "started (concurrency" in (cwd / "worker.log").read_text(), 60, "worker")
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
        log.close()


class PgSchemas:
    """Fresh schema names on the test server, each dropped at teardown."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def url(self) -> str:
        name = f"tidings_test_{uuid.uuid4().hex}"
        self.names.append(name)
        return f"{PG_SERVER}{'&' if '?' in PG_SERVER else '?'}schema={name}"


@pytest.fixture
def pg_schemas() -> Iterator[PgSchemas]:
    postgres_admin().close()  # skip, or fail under TIDINGS_REQUIRE_POSTGRES=1
    schemas = PgSchemas()
    try:
        yield schemas
    finally:
        with psycopg.connect(PG_SERVER, autocommit=True) as admin:
            for name in schemas.names:
                admin.execute(
                    psycopg.sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                        psycopg.sql.Identifier(name)
                    )
                )


@pytest.fixture(params=["sqlite", "postgres"])
def new_url(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], str]:
    """A factory of URLs of fresh, empty databases of one backend (one per call)."""
    if request.param == "sqlite":
        counter = iter(range(1_000))
        return lambda: f"sqlite:///{tmp_path / f'db{next(counter)}.sqlite3'}"
    schemas: PgSchemas = request.getfixturevalue("pg_schemas")
    return schemas.url


def as_json(text: str) -> Any:
    return json.loads(text)
