"""A TCP proxy in front of PostgreSQL that cuts chosen transactions at their COMMIT.

Workers connect through it (``sslmode=disable`` so it can read the protocol) and it
forwards everything, except that :meth:`PgProxy.cut` arms it to drop the connection of
the next transactions whose client messages contain a marker (a step name, a run id):

- ``before``: the COMMIT never reaches the server, which rolls the transaction back;
- ``after``: the COMMIT is forwarded, the server commits, and the connection is cut
  before the client sees the acknowledgement: the ambiguous case, where the client
  cannot know whether its transaction committed.

psycopg sends COMMIT as a simple query (``Q``), whatever protocol it uses for the
statements before it, so that message delimits transactions here.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

Mode = Literal["before", "after"]
_UNTYPED_REQUESTS = {80877103, 80877104}  # SSLRequest, GSSENCRequest: startup continues
_COMMIT_DONE = b"COMMIT\x00"  # the tag of the server's CommandComplete for a COMMIT


@dataclass
class _Rule:
    marker: bytes
    mode: Mode
    remaining: int


@dataclass
class _Session:
    client: socket.socket
    server: socket.socket
    startup: bool = True
    inbox: bytearray = field(default_factory=bytearray)
    tx: bytearray = field(default_factory=bytearray)
    awaiting_ack: bytearray | None = None  # server bytes withheld after a forwarded COMMIT


class PgProxy:
    def __init__(self, server_url: str) -> None:
        self._server = urlsplit(server_url)
        self.upstream = (self._server.hostname or "127.0.0.1", self._server.port or 5432)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._rule: _Rule | None = None
        self.cuts: list[Mode] = []
        self.sessions = 0
        self._open: set[socket.socket] = set()
        self._closed = threading.Event()
        self._threads = [threading.Thread(target=self._accept, name="pgproxy", daemon=True)]
        self._threads[0].start()

    def url(self, schema: str) -> str:
        """The server's URL, through this proxy, for a tidings schema."""
        server = self._server
        user = server.netloc.rpartition("@")[0]
        netloc = f"{user}@127.0.0.1:{self.port}" if user else f"127.0.0.1:{self.port}"
        query = "&".join(
            q for q in (server.query, f"schema={schema}&sslmode=disable&gssencmode=disable") if q
        )
        return urlunsplit(server._replace(netloc=netloc, query=query))

    def cut(self, marker: str | bytes, mode: Mode, times: int = 1) -> None:
        raw = marker.encode() if isinstance(marker, str) else marker
        with self._lock:
            self._rule = _Rule(raw, mode, times)

    def wait_cuts(self, n: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while len(self.cuts) < n:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        with self._lock:
            for sock in list(self._open):
                with contextlib.suppress(OSError):
                    sock.close()
            self._open.clear()
        for t in self._threads:
            t.join(2)

    # -- plumbing ----------------------------------------------------------------------
    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self._open.update((client, server))
                self.sessions += 1
            thread = threading.Thread(
                target=self._pump, args=(_Session(client, server),), daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def _pump(self, s: _Session) -> None:
        sel = selectors.DefaultSelector()
        sel.register(s.client, selectors.EVENT_READ)
        sel.register(s.server, selectors.EVENT_READ)
        try:
            while not self._closed.is_set():
                for key, _ in sel.select(timeout=0.2):
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    if key.fileobj is s.server:
                        if not self._from_server(s, data):
                            return
                    elif not self._from_client(s, data):
                        return
        except OSError:
            return
        finally:
            sel.close()
            with self._lock:
                for sock in (s.client, s.server):
                    self._open.discard(sock)
                    sock.close()

    def _from_server(self, s: _Session, data: bytes) -> bool:
        if s.awaiting_ack is None:
            s.client.sendall(data)
            return True
        s.awaiting_ack += data
        if _COMMIT_DONE in s.awaiting_ack:  # committed: the client must never know
            self.cuts.append("after")
            return False
        return True

    def _from_client(self, s: _Session, data: bytes) -> bool:
        """Forward complete messages; False to cut the connection here."""
        s.inbox += data
        out = bytearray()
        while (msg := _next_message(s)) is not None:
            if s.startup:
                s.startup = _still_starting(msg)
            elif msg[:1] == b"Q" and msg[5:].startswith((b"COMMIT", b"ROLLBACK")):
                mode = self._take_rule(s.tx) if msg[5:].startswith(b"COMMIT") else None
                s.tx.clear()
                if mode == "before":
                    self.cuts.append("before")
                    return False
                if mode == "after":
                    s.awaiting_ack = bytearray()
            else:
                s.tx += msg
            out += msg
        if out:
            s.server.sendall(out)
        return True

    def _take_rule(self, tx: bytearray) -> Mode | None:
        with self._lock:
            rule = self._rule
            if rule is None or rule.marker not in tx:
                return None
            rule.remaining -= 1
            if rule.remaining == 0:
                self._rule = None
            return rule.mode


def _next_message(s: _Session) -> bytes | None:
    """Pop one complete client message from ``s.inbox`` (None if incomplete)."""
    buf = s.inbox
    if s.startup:  # untyped: int32 length, int32 code, ...
        if len(buf) < 8:
            return None
        size = int.from_bytes(buf[:4], "big")
        if len(buf) < size:
            return None
        msg = bytes(buf[:size])
        del buf[:size]
        return msg
    if len(buf) < 5:
        return None
    size = 1 + int.from_bytes(buf[1:5], "big")
    if len(buf) < size:
        return None
    msg = bytes(buf[:size])
    del buf[:size]
    return msg


def _still_starting(msg: bytes) -> bool:
    """After SSLRequest or GSSENCRequest the next message is untyped too."""
    return int.from_bytes(msg[4:8], "big") in _UNTYPED_REQUESTS
