"""A live tidings stack for the SDK tests: ``tidings serve`` and ``tidings worker`` as
subprocesses over one database, and the Node scripts that drive them with real SDKs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg.sql
import pytest

from tests.conftest import PG_SERVER, postgres_admin
from tests.server.harness import free_port
from tidings import Tidings
from tidings.keys import create_key

REPO_ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = Path(__file__).resolve().parent / "node"
APP = "tests.integration.sdkapp:app"


def require_sdk_peers() -> None:
    """Skip without Node or the SDKs (``make sdk-peers``), or fail where CI needs them."""
    missing = None
    if shutil.which("node") is None:
        missing = "node is not installed"
    elif not (NODE_DIR / "node_modules" / ".installed").exists():
        missing = "the SDKs are not installed: run `make sdk-peers`"
    if missing is None:
        return
    if os.environ.get("TIDINGS_REQUIRE_SDK_PEERS") == "1":
        pytest.fail(f"{missing} (TIDINGS_REQUIRE_SDK_PEERS=1)")
    pytest.skip(missing)


@dataclass
class Stack:
    """The served API, keys of its environment, and an app reading the same database."""

    url: str
    admin_key: str
    publish_key: str
    reader: Tidings
    logs: Path

    def log_text(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.logs.glob("*.log")))


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIDINGS_", "TRIGGER_"))}
    env = {k: v for k, v in env.items() if not k.startswith("INNGEST_")}
    env["PYTHONPATH"] = str(REPO_ROOT)
    return env


def _wait_ready(url: str, procs: list[subprocess.Popen[bytes]], logs: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        for proc in procs:
            if proc.poll() is not None:
                pytest.fail(f"a tidings process exited while starting:\n{_read(logs)}")
        try:
            ready = httpx.get(f"{url}/readyz", timeout=5).status_code == 200
        except httpx.TransportError:
            ready = False
        worker = " started (concurrency" in (logs / "worker.log").read_text(errors="replace")
        if ready and worker:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"the stack did not start in 60 s:\n{_read(logs)}")
        time.sleep(0.1)


def _read(logs: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in sorted(logs.glob("*.log")))


@contextmanager
def live_stack(database_url: str, logs: Path) -> Iterator[Stack]:
    """``tidings serve`` and ``tidings worker`` (environment dev) on ``database_url``."""
    reader = Tidings(database_url)
    reader.migrate()
    now = reader.clock.now()
    admin = create_key(reader.store, "dev", name="sdk-admin", scope="admin", now=now).secret
    publish = create_key(reader.store, "dev", name="sdk-publish", scope="publish", now=now).secret
    port = free_port()
    common = ["--app", APP, "--database-url", database_url]
    commands = {
        "serve": [sys.executable, "-m", "tidings.cli", "serve", "--port", str(port), *common],
        "worker": [sys.executable, "-m", "tidings.cli", "worker", "--concurrency", "8", *common],
    }
    logs.mkdir(parents=True, exist_ok=True)
    procs = []
    for name, argv in commands.items():
        with (logs / f"{name}.log").open("wb") as log:
            procs.append(
                subprocess.Popen(argv, cwd=logs, env=_env(), stdout=log, stderr=subprocess.STDOUT)
            )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, procs, logs)
        yield Stack(url, admin, publish, reader, logs)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        reader.close()


def run_node(script: str, *args: str, env: dict[str, str]) -> dict[str, Any]:
    """Run ``tests/integration/node/<script>`` and return the JSON object it prints."""
    result = subprocess.run(
        ["node", script, *args],
        cwd=NODE_DIR,
        env={**_env(), **env},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, f"{script} failed:\n{result.stderr}\n{result.stdout}"
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert lines, f"{script} printed no result:\n{result.stderr}\n{result.stdout}"
    out: dict[str, Any] = json.loads(lines[-1])
    return out


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    require_sdk_peers()
    where = tmp_path_factory.mktemp(f"sdk-{request.param}")
    if request.param == "sqlite":
        with live_stack(f"sqlite:///{where / 'tidings.db'}", where) as s:
            yield s
        return
    admin = postgres_admin()
    schema = f"tidings_sdk_{uuid.uuid4().hex}"
    sep = "&" if "?" in PG_SERVER else "?"
    try:
        with live_stack(f"{PG_SERVER}{sep}schema={schema}", where) as s:
            yield s
    finally:
        admin.execute(
            psycopg.sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                psycopg.sql.Identifier(schema)
            )
        )
        admin.close()
