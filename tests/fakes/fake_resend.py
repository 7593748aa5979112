"""Resend's ``POST /emails`` and ``POST /emails/batch`` as its API reference documents
them.

The batch endpoint takes a JSON array of up to 100 emails (no attachments or
``scheduled_at``), one ``Idempotency-Key`` for the whole request, and answers
``{"data": [{"id"}...]}``; with ``x-batch-validation: permissive`` an email that fails
validation is left out and reported in ``"errors": [{"index", "message"}]`` while the
others are sent (strict, the default, refuses the whole batch with 422).

Validates the bearer key, the JSON content type and the fields; keeps ``Idempotency-Key``
answers for replay (same key + same body: the first answer again, nothing sent; same key
+ other body: 409 ``invalid_idempotent_request``); enforces a requests-per-second limit
with 429 ``rate_limit_exceeded`` and the ``ratelimit-*``/``retry-after`` headers. Errors
have Resend's shape ``{"statusCode", "name", "message"}``.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from tests.fakes.server import FakeServer, Request, Response

_EMAIL = re.compile(r"^(?:[^<>@\s]+@[^<>@\s]+\.[^<>@\s]+|[^<>]*<[^<>@\s]+@[^<>@\s]+\.[^<>@\s]+>)$")


def error(status: int, name: str, message: str, **headers: str) -> Response:
    return Response(status, {"statusCode": status, "name": name, "message": message}, headers)


@dataclass
class SentEmail:
    id: str
    body: dict[str, Any]
    idempotency_key: str | None


class FakeResend(FakeServer):
    def __init__(self, api_key: str = "re_test_key", *, rate_per_second: int | None = None):
        super().__init__()
        self.api_key = api_key
        self.rate_per_second = rate_per_second
        self.sent: list[SentEmail] = []
        self.refused: set[str] = set()
        """Addresses refused as invalid (as Resend refuses, say, an unknown domain)."""
        self.batches: list[tuple[str | None, int]] = []
        """Each batch request accepted: its idempotency key and how many emails it held."""
        self._idempotent: dict[str, tuple[str, Response]] = {}
        self._window: list[float] = []
        self._state = threading.Lock()

    def handle(self, request: Request) -> Response:
        if request.method != "POST" or request.path not in ("/emails", "/emails/batch"):
            return error(404, "not_found", "The requested endpoint does not exist.")
        auth = request.headers.get("authorization")
        if not auth:
            return error(401, "missing_api_key", "Missing API key in the authorization header.")
        if auth != f"Bearer {self.api_key}":
            return error(403, "invalid_api_key", "API key is invalid.")
        if self.rate_per_second is not None and (limited := self._rate_limited()):
            return limited
        if not request.headers.get("content-type", "").startswith("application/json"):
            return error(400, "validation_error", "Content-Type must be application/json.")
        key = request.headers.get("idempotency-key")
        if key is not None and not 1 <= len(key) <= 256:
            return error(400, "invalid_idempotency_key", "The key must be 1-256 characters.")
        digest = hashlib.sha256(request.body).hexdigest()
        with self._state:
            if key is not None and key in self._idempotent:
                seen_digest, answer = self._idempotent[key]
                if seen_digest != digest:
                    return error(
                        409,
                        "invalid_idempotent_request",
                        "Same idempotency key used with a different request payload.",
                    )
                return answer
            if request.path == "/emails/batch":
                answer = self._send_batch(request, key)
            else:
                answer = self._send(request, key)
            if key is not None and answer.status == 200:
                self._idempotent[key] = (digest, answer)
            return answer

    def _rate_limited(self) -> Response | None:
        now = time.monotonic()
        with self._state:
            self._window = [t for t in self._window if t > now - 1.0]
            assert self.rate_per_second is not None
            if len(self._window) >= self.rate_per_second:
                return error(
                    429,
                    "rate_limit_exceeded",
                    "Too many requests. You can only make "
                    f"{self.rate_per_second} requests per second.",
                    **{
                        "retry-after": "1",
                        "ratelimit-limit": str(self.rate_per_second),
                        "ratelimit-remaining": "0",
                        "ratelimit-reset": "1",
                    },
                )
            self._window.append(now)
        return None

    def _send(self, request: Request, key: str | None) -> Response:
        try:
            body = request.json()
        except ValueError:
            return error(400, "validation_error", "Invalid JSON body.")
        if not isinstance(body, dict):
            return error(422, "validation_error", "The body must be a JSON object.")
        problem = self._validate(body)
        if problem:
            return error(422, "validation_error", problem)
        email = SentEmail(id=str(uuid.uuid4()), body=body, idempotency_key=key)
        self.sent.append(email)
        return Response(200, {"id": email.id})

    def _send_batch(self, request: Request, key: str | None) -> Response:
        try:
            bodies = request.json()
        except ValueError:
            return error(400, "validation_error", "Invalid JSON body.")
        if not isinstance(bodies, list) or not bodies:
            return error(422, "validation_error", "The body must be a non-empty array.")
        if len(bodies) > 100:
            return error(422, "validation_error", "A batch holds at most 100 emails.")
        permissive = request.headers.get("x-batch-validation") == "permissive"
        problems: list[tuple[int, str]] = []
        for index, body in enumerate(bodies):
            problem = (
                self._validate(body) if isinstance(body, dict) else "Each email must be an object."
            )
            if problem is None and set(body["to"]) & self.refused:
                problem = "Invalid `to` field: the address was refused."
            if problem is None and ("attachments" in body or "scheduled_at" in body):
                problem = "Batch emails cannot have attachments or scheduled_at."
            if problem is not None:
                problems.append((index, problem))
        if problems and not permissive:
            return error(422, "validation_error", problems[0][1])
        bad = {i for i, _ in problems}
        data = []
        for index, body in enumerate(bodies):
            if index in bad:
                continue
            email = SentEmail(id=str(uuid.uuid4()), body=body, idempotency_key=key)
            self.sent.append(email)
            data.append({"id": email.id})
        self.batches.append((key, len(bodies)))
        answer: dict[str, Any] = {"data": data}
        if permissive:
            answer["errors"] = [{"index": i, "message": m} for i, m in problems]
        return Response(200, answer)

    @staticmethod
    def _validate(body: dict[str, Any]) -> str | None:
        for required in ("from", "to", "subject"):
            if not body.get(required):
                return f"Missing `{required}` field."
        if not _EMAIL.match(body["from"]):
            return "Invalid `from` field: use `email@example.com` or `Name <email@example.com>`."
        recipients = body["to"] if isinstance(body["to"], list) else [body["to"]]
        if len(recipients) > 50:
            return "Too many recipients in `to` (at most 50)."
        for to in recipients:
            if not isinstance(to, str) or not _EMAIL.match(to):
                return "Invalid `to` field: use `email@example.com` or `Name <email@example.com>`."
        if not (body.get("html") or body.get("text") or body.get("react")):
            return "Missing `html` or `text` field."
        unknown = set(body) - {
            "from", "to", "subject", "bcc", "cc", "reply_to", "html", "text", "react",
            "headers", "attachments", "tags", "scheduled_at",
        }  # fmt: skip
        if unknown:
            return f"Unknown field(s): {sorted(unknown)}."
        for tag in body.get("tags", []):
            if set(tag) != {"name", "value"} or not re.fullmatch(r"[A-Za-z0-9_-]+", tag["value"]):
                return "Tags must be {name, value} with ASCII letters, numbers, _ or -."
        return None
