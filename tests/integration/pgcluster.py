"""Control of the local PostgreSQL cluster the tests run on (restart it, make sure it is up).

Only possible when the test server is a Debian-style cluster on this machine
(``pg_lsclusters``/``pg_ctlcluster``) and the tests run as root; otherwise the tests
that need it skip, or fail when ``TIDINGS_REQUIRE_POSTGRES=1``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from urllib.parse import urlsplit


class PgCluster:
    def __init__(self, server_url: str) -> None:
        url = urlsplit(server_url)
        self.host = url.hostname or "127.0.0.1"
        self.port = url.port or 5432
        self.version, self.name = self._find()

    def _find(self) -> tuple[str, str]:
        if self.host not in ("127.0.0.1", "localhost", "::1"):
            raise LookupError(f"the test server {self.host}:{self.port} is not on this machine")
        if os.geteuid() != 0 or not shutil.which("pg_ctlcluster"):
            raise LookupError("restarting PostgreSQL needs root and pg_ctlcluster")
        listing = subprocess.run(
            ["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True
        ).stdout
        for line in listing.splitlines():
            version, name, port, *_ = line.split()
            if int(port) == self.port:
                return version, name
        raise LookupError(f"no local cluster listens on port {self.port}:\n{listing}")

    def ctl(self, action: str) -> None:
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", self.version, self.name, action],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def ready(self) -> bool:
        probe = ["pg_isready", "-h", self.host, "-p", str(self.port), "-t", "2"]
        return subprocess.run(probe, capture_output=True).returncode == 0

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready():
            if time.monotonic() > deadline:
                raise TimeoutError(f"PostgreSQL on port {self.port} not ready after {timeout}s")
            time.sleep(0.1)

    def restart(self) -> None:
        self.ctl("restart")
        self.wait_ready()

    def ensure_up(self) -> None:
        """Start the cluster if it is down (CI runs the next tests on the same server)."""
        if not self.ready():
            self.ctl("start")
        self.wait_ready()
