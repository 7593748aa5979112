"""Simulated hosts for the partition test: network namespaces joined to this one by veth
links, and a TCP forwarder that lets them reach the local PostgreSQL.

Each :class:`Host` is a namespace ``td<id>`` with one veth pair: ``<ns side>`` at
``10.<a>.<b>.2/30`` inside, ``<host side>`` at ``10.<a>.<b>.1/30`` here. A
:class:`Forwarder` listens on the host-side address and forwards to 127.0.0.1:5432, so
the server keeps listening on loopback only and nothing leaves this machine. Cutting a
host is ``ip link set <host side> down``: its packets go nowhere until the link is up.

Needs root and iproute2 (``ip netns``). :meth:`Host.remove` deletes the namespace and the
veth pair (deleting one end deletes both); call it in a ``finally``.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import subprocess
import threading


def available() -> str | None:
    """Why namespaces cannot be made here, or None if they can."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2 (ip) is not installed"
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


def _free_subnet() -> tuple[int, int]:
    used = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
    for _ in range(100):
        a, b = 200 + random.randrange(50), random.randrange(256)
        if f"10.{a}.{b}." not in used:
            return a, b
    raise RuntimeError("no free 10.x.y.0/30 subnet found for a test namespace")


class Host:
    """A network namespace reachable from here over one veth link."""

    def __init__(self) -> None:
        tag = os.urandom(3).hex()
        self.ns = f"td{tag}"
        self.outer = f"td{tag}o"  # interface names: at most 15 characters
        self.inner = f"td{tag}i"
        a, b = _free_subnet()
        self.host_ip, self.ns_ip = f"10.{a}.{b}.1", f"10.{a}.{b}.2"
        self._made: list[str] = []
        try:
            _ip("netns", "add", self.ns)
            self._made.append("ns")
            _ip("link", "add", self.outer, "type", "veth", "peer", "name", self.inner)
            self._made.append("veth")
            _ip("link", "set", self.inner, "netns", self.ns)
            _ip("addr", "add", f"{self.host_ip}/30", "dev", self.outer)
            _ip("link", "set", self.outer, "up")
            _ip("-n", self.ns, "addr", "add", f"{self.ns_ip}/30", "dev", self.inner)
            _ip("-n", self.ns, "link", "set", self.inner, "up")
            _ip("-n", self.ns, "link", "set", "lo", "up")
        except BaseException:
            self.remove()
            raise

    def prefix(self) -> list[str]:
        """What runs a command inside the namespace."""
        return ["ip", "netns", "exec", self.ns]

    def cut(self) -> None:
        _ip("link", "set", self.outer, "down")

    def restore(self) -> None:
        _ip("link", "set", self.outer, "up")

    def remove(self) -> None:
        """Delete the veth pair and the namespace (whatever of them exists)."""
        if "veth" in self._made:
            with contextlib.suppress(subprocess.CalledProcessError):
                _ip("link", "del", self.outer)
        if "ns" in self._made:
            with contextlib.suppress(subprocess.CalledProcessError):
                _ip("netns", "del", self.ns)
        self._made.clear()


class Forwarder:
    """Accepts TCP connections on ``(host, port)`` and pipes each to ``upstream``.

    Accepted sockets use short TCP keepalives: a client that vanished (its link cut)
    is noticed within seconds and its upstream connection closed, as a PostgreSQL
    server with ``tcp_keepalives_idle`` set would, so the transaction it left open
    does not hold its row locks forever.
    """

    def __init__(self, host: str, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._listener = socket.create_server((host, 0))
        self.port: int = self._listener.getsockname()[1]
        self._closed = threading.Event()
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, name="forwarder", daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            _keepalive(client)
            try:
                server = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self._open.update((client, server))
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
                with self._lock:
                    self._open.discard(s)

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        with self._lock:
            sockets = list(self._open)
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


def _keepalive(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 2)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, 5000)
