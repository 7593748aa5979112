"""A threaded HTTP/1.1 server on loopback that records requests and can be scripted."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Request:
    """One request as it arrived on the wire."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    """Lower-cased names."""
    raw: bytes
    """The body as sent (still gzip-compressed if it was)."""
    body: bytes
    """The body after undoing ``Content-Encoding: gzip``."""
    at: float
    """``time.monotonic()`` on arrival."""

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode("utf-8"), keep_blank_values=True))

    def form_pairs(self) -> list[tuple[str, str]]:
        return parse_qsl(self.body.decode("utf-8"), keep_blank_values=True)


@dataclass
class Response:
    status: int
    body: Any = None
    """JSON-encoded unless bytes."""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    """Seconds to wait before answering (past the client's timeout: a timeout)."""


Handler = Callable[[Request], Response]


class FakeServer:
    """Serves ``handle(request)`` on 127.0.0.1; ``script`` answers come first."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.script: list[Response] = []
        """Answers given, in order, before the normal handler (then removed)."""
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # What subclasses implement -------------------------------------------------------
    def handle(self, request: Request) -> Response:
        raise NotImplementedError

    # Plumbing ------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                fake._serve(self)

            def do_GET(self) -> None:
                fake._serve(self)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @contextmanager
    def running(self) -> Iterator[FakeServer]:
        self.start()
        try:
            yield self
        finally:
            self.stop()

    def _serve(self, http: BaseHTTPRequestHandler) -> None:
        length = int(http.headers.get("Content-Length") or 0)
        raw = http.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in http.headers.items()}
        body = raw
        if headers.get("content-encoding", "").lower() == "gzip":
            try:
                body = gzip.decompress(raw)
            except OSError:
                self._write(http, Response(400, {"error": "body is not valid gzip"}))
                return
        split = urlsplit(http.path)
        request = Request(
            method=http.command,
            path=split.path,
            query=dict(parse_qsl(split.query)),
            headers=headers,
            raw=raw,
            body=body,
            at=time.monotonic(),
        )
        with self._lock:
            self.requests.append(request)
            scripted = self.script.pop(0) if self.script else None
        response = scripted if scripted is not None else self.handle(request)
        if response.delay:
            time.sleep(response.delay)
        self._write(http, response)

    @staticmethod
    def _write(http: BaseHTTPRequestHandler, response: Response) -> None:
        if isinstance(response.body, bytes):
            payload = response.body
            ctype = "application/octet-stream"
        else:
            payload = json.dumps(response.body).encode("utf-8")
            ctype = "application/json; charset=utf-8"
        try:
            http.send_response(response.status)
            http.send_header("Content-Type", ctype)
            http.send_header("Content-Length", str(len(payload)))
            for name, value in response.headers.items():
                http.send_header(name, value)
            http.end_headers()
            http.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test); nothing to answer


def refused_url() -> str:
    """A loopback URL where nothing listens: connecting is refused."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
