"""``tidings demo`` as a real process: runs progress, notifications land, the API and the
inbox page answer, a second start resumes the same story, Ctrl-C and SIGTERM stop it."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCALE = "7200"  # two engine hours per real second: reminders and follow-ups within seconds


def free_port() -> int:
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class DemoProcess:
    """A running ``tidings demo`` whose stdout is collected line by line."""

    proc: subprocess.Popen[str]
    port: int
    lines: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        assert self.proc.stdout is not None
        assert self.proc.stderr is not None
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.lines), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.errors), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: IO[str], into: list[str]) -> None:
        with stream:
            for line in stream:
                into.append(line.rstrip("\n"))

    @property
    def out(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if text in line:
                    return line
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"{text!r} not in the demo's output:\n{self.out}\n{self.stderr()}")

    def finish(self, timeout: float = 60) -> int:
        try:
            code = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            for reader in self._readers:
                reader.join(5)
        return code

    def stderr(self) -> str:
        return "\n".join(self.errors)

    def get(self, path: str, key: str | None = None) -> tuple[int, Any]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}")
        if key is not None:
            request.add_header("Authorization", f"Bearer {key}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                body = response.read().decode()
                status = response.status
        except urllib.error.HTTPError as exc:
            body, status = exc.read().decode(), exc.code
        try:
            return status, json.loads(body)
        except ValueError:
            return status, body


STARTED: list[DemoProcess] = []


TIDINGS = str(Path(sys.executable).with_name("tidings"))  # the installed console script


def start(cwd: Path, *args: str, launcher: str | None = None) -> DemoProcess:
    """``tidings demo`` from the repository root, as ``make demo`` runs it, keeping its
    files in ``cwd/.tidings``."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIDINGS_", "MEDILINK_"))}
    env.pop("PYTHONPATH", None)  # examples/ must be found from the working directory
    env["COLUMNS"] = "200"
    if launcher is not None:  # what the Makefile sets for `make demo`
        env["TIDINGS_DEMO_LAUNCHER"] = launcher
    data = str(cwd / ".tidings")
    proc = subprocess.Popen(
        [TIDINGS, "demo", "--port", str(port), "--time-scale", SCALE, "--data-dir", data, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    demo = DemoProcess(proc, port)
    STARTED.append(demo)
    return demo


@pytest.fixture
def demo_dir(tmp_path: Path) -> Iterator[Path]:
    """A working directory; any demo still running at the end is killed."""
    yield tmp_path
    while STARTED:
        demo = STARTED.pop()
        if demo.proc.poll() is None:
            demo.proc.kill()
        demo.finish()


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute(sql).fetchall()


def state(cwd: Path) -> dict[str, Any]:
    return dict(json.loads((cwd / ".tidings" / "demo-state.json").read_text()))


def check_first_run(demo: DemoProcess, cwd: Path) -> None:
    """While it runs: the API, the health check and the inbox page answer."""
    demo.wait_for("notification welcome", timeout=30)
    key = state(cwd)["api_key"]
    status, runs = demo.get("/api/v1/runs?limit=5", key)
    assert status == 200, runs
    assert runs["data"], runs
    assert demo.get("/api/v1/runs", "tk_dev_wrong")[0] == 401
    assert demo.get("/healthz")[0] == 200
    link = demo.wait_for("/demo/inbox?")
    token = link.rsplit("token=", 1)[1].split()[0]
    assert "user=hospital-0001" in link
    status, page = demo.get(link.split(str(demo.port), 1)[1].split()[0])
    assert status == 200
    assert '<script src="/inbox.js">' in page  # the server's embeddable inbox
    assert demo.get("/inbox.js")[0] == 200
    deadline = time.monotonic() + 20
    inbox: dict[str, Any] = {}
    while time.monotonic() < deadline:  # the inbox API the page reads, with the link's token
        status, inbox = demo.get(f"/api/v1/inbox?token={token}")
        assert status == 200, inbox
        if inbox["data"]:
            break
        time.sleep(0.3)
    assert any(item["type"] == "welcome" for item in inbox["data"]), inbox
    assert demo.get("/api/v1/inbox?token=forged")[0] == 401


def open_stream(demo: DemoProcess, token: str) -> list[str]:
    """Read the inbox's SSE stream in a thread, as a browser tab would, until it ends."""
    url = f"http://127.0.0.1:{demo.port}/api/v1/inbox/stream?token={token}"
    received: list[str] = []

    def read() -> None:
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                for line in response:
                    received.append(line.decode().rstrip())
        except OSError:
            received.append("-- closed")

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + 20
    while not any(line.startswith("event: ready") for line in received):
        assert time.monotonic() < deadline, received
        time.sleep(0.1)
    return received


def test_demo_runs_resumes_and_stops_cleanly(demo_dir: Path) -> None:
    tidings_db = demo_dir / ".tidings" / "demo.db"
    data_db = demo_dir / ".tidings" / "demo-medilink.db"

    # 1. A fresh story for a few seconds (--duration): exits 0 on its own.
    first = start(demo_dir, "--duration", "9")
    check_first_run(first, demo_dir)
    links = demo_dir / ".tidings" / "demo-links.txt"
    assert state(demo_dir)["api_key"] in links.read_text()  # findable while it runs
    assert links.stat().st_mode & 0o777 == 0o600  # it holds the admin key
    assert f"(these links are also in {links} while the demo runs)" in first.out
    assert first.finish() == 0, first.out + first.stderr()
    assert not links.exists()
    assert "Run `tidings demo` again to resume, or `tidings demo --reset`" in first.out
    assert "new story (seed 7)" in first.out
    assert "Traceback" not in first.out
    assert "stopped at engine time" in first.out

    completed = query(tidings_db, "SELECT COUNT(*) FROM runs WHERE status = 'COMPLETED'")[0][0]
    assert completed > 0
    channels = {c for (c,) in query(tidings_db, "SELECT DISTINCT channel FROM outbox")}
    assert {"email"} <= channels, channels  # external channels go to the outbox
    assert query(tidings_db, "SELECT COUNT(*) FROM inbox_items")[0][0] > 0
    users_before = {u for (u,) in query(data_db, "SELECT id FROM ml_users")}
    assert "hospital-0001" in users_before
    stopped_at = datetime.fromisoformat(state(demo_dir)["engine_now"])

    # 2. A second start resumes the story; Ctrl-C stops it with exit status 0, promptly,
    #    even with a browser's inbox stream open.
    second = start(demo_dir, launcher="make")
    second.wait_for("resumed story (seed 7)")
    second.wait_for(".venv/bin/tidings runs list --app examples.medilink.app:app")
    link = second.wait_for("/demo/inbox?")
    stream = open_stream(second, link.rsplit("token=", 1)[1].split()[0])
    summary = second.wait_for("[engine ", timeout=30)
    time.sleep(3)
    second.proc.send_signal(signal.SIGINT)
    asked = time.monotonic()
    assert second.finish() == 0, second.out + second.stderr()
    assert time.monotonic() - asked < 20
    assert "Traceback" not in second.stderr()
    assert any(line.startswith("event: ready") for line in stream)
    assert "stopped at engine time" in second.out
    assert "Run `make demo` again to resume, or `make demo DEMO_ARGS=--reset`" in second.out
    # engine time went on from where it stopped, not from the wall clock of now
    # the line shows local time to the minute
    local = summary.split("]")[0].removeprefix("[engine ")
    shown = datetime.strptime(local, "%Y-%m-%d %H:%M").astimezone()
    assert shown >= stopped_at.replace(second=0, microsecond=0)
    assert datetime.fromisoformat(state(demo_dir)["engine_now"]) > stopped_at
    assert state(demo_dir)["sessions"] == 2

    users = [u for (u,) in query(data_db, "SELECT id FROM ml_users")]
    assert len(users) == len(set(users))
    assert users_before <= set(users)
    assert query(data_db, "SELECT COUNT(*), COUNT(DISTINCT email) FROM ml_users")[0] == (
        len(users),
        len(users),
    )
    # one welcome per user, one delivery per notification and channel, one API key
    assert not query(
        tidings_db,
        "SELECT recipient_id FROM notifications WHERE type_id = 'welcome'"
        " GROUP BY recipient_id HAVING COUNT(*) > 1",
    )
    assert not query(
        tidings_db,
        "SELECT notification_id, channel FROM deliveries GROUP BY 1, 2 HAVING COUNT(*) > 1",
    )
    assert not query(
        tidings_db, "SELECT delivery_id, to_address FROM outbox GROUP BY 1, 2 HAVING COUNT(*) > 1"
    )
    assert query(tidings_db, "SELECT COUNT(*) FROM api_keys")[0][0] == 1
    assert not query(tidings_db, "SELECT id FROM runs WHERE status = 'RUNNING'")  # drained

    # 3. --reset starts over; SIGTERM stops it cleanly too.
    third = start(demo_dir, "--reset")
    third.wait_for("new story (seed 7)")
    third.wait_for("[engine ", timeout=30)
    third.proc.send_signal(signal.SIGTERM)
    assert third.finish() == 0, third.out + third.stderr()
    assert state(demo_dir)["sessions"] == 1
    assert len(query(data_db, "SELECT id FROM ml_users")) < len(users)


def test_demo_refuses_a_port_in_use(demo_dir: Path) -> None:
    with closing(socket.socket()) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
        env["PYTHONPATH"] = str(ROOT)
        result = subprocess.run(
            [TIDINGS, "demo", "--port", str(port)],
            cwd=demo_dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is in use" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (demo_dir / ".tidings").exists()  # nothing written
