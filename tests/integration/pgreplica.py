"""A throwaway primary and streaming standby for the failover test.

Two PostgreSQL clusters made for one test in a temporary directory, on free ports of
127.0.0.1: a primary (``initdb``) and a standby copied from it with ``pg_basebackup -R``,
streaming with synchronous replication (a commit the primary acknowledged is on the
standby, so a failover loses none). :meth:`failover` stops the primary at once and
promotes the standby. The machine's own cluster is never touched. :meth:`remove` stops
both and deletes the directory; call it in a ``finally``.

Needs the PostgreSQL server binaries (``initdb``, ``pg_ctl``, ``pg_basebackup``); as root,
they run as the ``postgres`` user (initdb refuses root).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg


def bindir() -> Path | None:
    """The newest PostgreSQL server binaries on this machine."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ReplicatedPair:
    def __init__(self) -> None:
        bins = bindir()
        if bins is None:
            raise LookupError("PostgreSQL server binaries (initdb, pg_ctl) not found")
        self.bin = bins
        self.root = Path(tempfile.mkdtemp(prefix="tidings-failover-"))
        self._as: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self.primary, self.standby = self.root / "primary", self.root / "standby"
        self.ports = (_free_port(), _free_port())
        self._started: list[Path] = []
        try:
            self._make()
        except BaseException:
            self.remove()
            raise

    def _run(self, *args: str, timeout: float = 120) -> None:
        done = subprocess.run(
            [*self._as, *args], capture_output=True, text=True, timeout=timeout, cwd=self.root
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")

    def _ctl(self, data: Path, *args: str) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(data), *args)

    def _start(self, data: Path, port: int) -> None:
        self._started.append(data)
        self._ctl(data, "-l", str(self.root / f"{data.name}.log"), "-w", "start")

    def url(self, node: int) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.ports[node]}/postgres"

    def multi_host_url(self, **query: str) -> str:
        hosts = ",".join(f"127.0.0.1:{p}" for p in self.ports)
        params = "&".join(
            f"{k}={v}" for k, v in {"target_session_attrs": "read-write", **query}.items()
        )
        return f"postgresql://postgres@{hosts}/postgres?{params}"

    def _make(self) -> None:
        self._run(
            str(self.bin / "initdb"), "-D", str(self.primary), "-U", "postgres",
            "--auth=trust", "-E", "UTF8", "--no-sync",
        )  # fmt: skip
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.root}'",
            "wal_level": "replica",
            "max_wal_senders": "5",
            "max_connections": "100",
            "shared_buffers": "32MB",
            "fsync": "off",  # a test server: an immediate stop loses nothing committed
        }
        with (self.primary / "postgresql.conf").open("a") as conf:
            conf.write("".join(f"{k} = {v}\n" for k, v in settings.items()))
            conf.write(f"port = {self.ports[0]}\n")
        self._start(self.primary, self.ports[0])
        self._run(
            str(self.bin / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.ports[0]),
            "-U", "postgres", "-D", str(self.standby), "-R", "-X", "stream", "--no-sync",
        )  # fmt: skip
        with (self.standby / "postgresql.conf").open("a") as conf:
            conf.write(f"port = {self.ports[1]}\n")
        self._start(self.standby, self.ports[1])
        with psycopg.connect(self.url(0), autocommit=True, connect_timeout=10) as conn:
            deadline = time.monotonic() + 60
            while not conn.execute(
                "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
            ).fetchone()[0]:  # type: ignore[index]
                if time.monotonic() > deadline:
                    raise TimeoutError("the standby never started streaming")
                time.sleep(0.1)
            conn.execute("ALTER SYSTEM SET synchronous_standby_names = '*'")
            conn.execute("SELECT pg_reload_conf()")

    def failover(self) -> None:
        """Stop the primary at once (as a crash would), then promote the standby."""
        self._ctl(self.primary, "-m", "immediate", "-w", "stop")
        self._started.remove(self.primary)
        self._ctl(self.standby, "-w", "promote")

    def remove(self) -> None:
        for data in list(self._started):
            with contextlib.suppress(Exception):
                self._ctl(data, "-m", "immediate", "-w", "stop")
        self._started.clear()
        shutil.rmtree(self.root, ignore_errors=True)
