"""The Expo push service's send and getReceipts endpoints as Expo's docs describe them.

Accepts a single message object (answered with a single ticket object) or an array of at
most 100 (answered with an array); gzip bodies; an optional required access token; ticket
errors DeviceNotRegistered / MessageTooBig / MessageRateExceeded by token or size;
request errors in ``{"errors": [{"code", "message"}]}``; receipts by id, at most 1,000.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from tests.fakes.server import FakeServer, Request, Response

TOKEN = re.compile(r"^Expo(nent)?PushToken\[[^\]]+\]$")
FIELDS = {
    "to", "data", "title", "body", "ttl", "expiration", "priority", "subtitle", "sound",
    "badge", "channelId", "categoryId", "mutableContent",
}  # fmt: skip
MAX_PAYLOAD = 4096


def request_error(status: int, code: str, message: str, **headers: str) -> Response:
    return Response(status, {"errors": [{"code": code, "message": message}]}, headers)


class FakeExpo(FakeServer):
    def __init__(self, access_token: str | None = None) -> None:
        super().__init__()
        self.access_token = access_token
        self.unregistered: set[str] = set()
        """Tokens answered with a DeviceNotRegistered ticket."""
        self.rate_exceeded: set[str] = set()
        """Tokens answered with a MessageRateExceeded ticket."""
        self.tickets: dict[str, dict[str, Any]] = {}
        """Ticket id -> the message accepted under it (a notification Expo will push)."""
        self.receipts: dict[str, dict[str, Any]] = {}
        """Ticket id -> receipt; tickets not here get ``{"status": "ok"}`` once asked."""
        self.pending: set[str] = set()
        """Ticket ids whose receipt is not ready (left out of getReceipts answers)."""

    def handle(self, request: Request) -> Response:
        if request.method != "POST":
            return request_error(405, "METHOD_NOT_ALLOWED", "Use POST.")
        if self.access_token is not None and (
            request.headers.get("authorization") != f"Bearer {self.access_token}"
        ):
            return request_error(401, "UNAUTHORIZED", "The bearer token is invalid.")
        if not request.headers.get("content-type", "").startswith("application/json"):
            return request_error(400, "VALIDATION_ERROR", "Content-Type must be JSON.")
        try:
            body = request.json()
        except ValueError:
            return request_error(400, "VALIDATION_ERROR", "The body is not valid JSON.")
        if request.path == "/--/api/v2/push/send":
            return self._send(body)
        if request.path == "/--/api/v2/push/getReceipts":
            return self._receipts(body)
        return request_error(404, "NOT_FOUND", f"No route {request.path}.")

    def _send(self, body: Any) -> Response:
        single = isinstance(body, dict)
        messages = [body] if single else body
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            return request_error(400, "VALIDATION_ERROR", "Send a message or an array.")
        if len(messages) > 100:
            return request_error(
                400, "PUSH_TOO_MANY_NOTIFICATIONS", "You are trying to send more than 100."
            )
        for message in messages:
            unknown = set(message) - FIELDS
            if unknown or not isinstance(message.get("to"), str):
                return request_error(
                    400, "VALIDATION_ERROR", f'"to" is required; unknown {sorted(unknown)}'
                )
        tickets = [self._ticket(m) for m in messages]
        return Response(200, {"data": tickets[0] if single else tickets})

    def _ticket(self, message: dict[str, Any]) -> dict[str, Any]:
        to = message["to"]
        if not TOKEN.match(to) or to in self.unregistered:
            return _ticket_error(
                "DeviceNotRegistered", f'"{to}" is not a registered push notification recipient'
            )
        if len(json.dumps(message).encode()) > MAX_PAYLOAD:
            return _ticket_error("MessageTooBig", "Message was too big (over 4096 bytes).")
        if to in self.rate_exceeded:
            return _ticket_error("MessageRateExceeded", "Sending too often to this device.")
        ticket_id = str(uuid.uuid4())
        self.tickets[ticket_id] = message
        return {"status": "ok", "id": ticket_id}

    def _receipts(self, body: Any) -> Response:
        ids = body.get("ids") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            return request_error(400, "VALIDATION_ERROR", '"ids" must be an array of strings.')
        if len(ids) > 1000:
            return request_error(
                400, "PUSH_TOO_MANY_RECEIPTS", "You are trying to get more than 1000 receipts."
            )
        data = {
            rid: self.receipts.get(rid, {"status": "ok"})
            for rid in ids
            if rid in self.tickets and rid not in self.pending
        }
        return Response(200, {"data": data})


def _ticket_error(code: str, message: str) -> dict[str, Any]:
    return {"status": "error", "message": message, "details": {"error": code}}
