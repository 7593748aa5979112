"""Twilio's ``POST /2010-04-01/Accounts/{sid}/Messages.json`` as its docs describe it.

Validates basic auth (``AccountSid:AuthToken``), the form content type, the field names
(``To``, ``Body``, exactly one of ``From`` / ``MessagingServiceSid``, ``StatusCallback``)
and E.164 numbers; answers 201 with a Message resource, or Twilio's error shape
``{"code", "message", "more_info", "status"}`` (20003, 21211, 21602, 21603, 21610...).
"""

from __future__ import annotations

import base64
import re
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from tests.fakes.server import FakeServer, Request, Response

E164 = re.compile(r"^\+[1-9]\d{1,14}$")
ALLOWED = {
    "To", "From", "MessagingServiceSid", "Body", "StatusCallback", "MediaUrl",
    "ApplicationSid", "MaxPrice", "ProvideFeedback", "ValidityPeriod", "SendAt",
    "ScheduleType", "ShortenUrls", "SmartEncoded",
}  # fmt: skip


def error(status: int, code: int, message: str, **headers: str) -> Response:
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return Response(status, body, headers)


@dataclass
class SentSms:
    sid: str
    form: dict[str, str]


class FakeTwilio(FakeServer):
    def __init__(
        self, account_sid: str = "AC" + "0" * 32, auth_token: str = "twilio_test_token"
    ) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.unsubscribed: set[str] = set()
        """Numbers that replied STOP: sending to them is error 21610."""
        self.sent: list[SentSms] = []
        self.delay = 0.0
        """Seconds each request takes (to see how many a client keeps in flight)."""
        self.in_flight = 0
        self.max_in_flight = 0
        self._flight = threading.Lock()

    def handle(self, request: Request) -> Response:
        with self._flight:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                time.sleep(self.delay)
            return self._handle(request)
        finally:
            with self._flight:
                self.in_flight -= 1

    def _handle(self, request: Request) -> Response:
        path = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return error(401, 20003, "Authenticate")
        if request.method != "POST" or request.path != path:
            return error(404, 20404, f"The requested resource {request.path} was not found")
        ctype = request.headers.get("content-type", "")
        if not ctype.startswith("application/x-www-form-urlencoded"):
            return error(400, 20001, "Content-Type must be application/x-www-form-urlencoded")
        form = request.form()
        return self._create(form)

    def _create(self, form: dict[str, str]) -> Response:
        unknown = set(form) - ALLOWED
        if unknown:
            return error(400, 20001, f"Unknown parameters: {sorted(unknown)}")
        to = form.get("To", "")
        if not to:
            return error(400, 21604, "A 'To' phone number is required.")
        if not E164.match(to):
            return error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if ("From" in form) == ("MessagingServiceSid" in form):
            return error(400, 21603, "A 'From' phone number or MessagingServiceSid is required.")
        if not form.get("Body"):
            return error(400, 21602, "Message body is required.")
        if to in self.unsubscribed:
            return error(400, 21610, "Attempt to send to unsubscribed recipient")
        sms = SentSms(sid="SM" + uuid.uuid4().hex, form=form)
        self.sent.append(sms)
        return Response(201, self._resource(sms))

    def _resource(self, sms: SentSms) -> dict[str, Any]:
        body = sms.form["Body"]
        service = sms.form.get("MessagingServiceSid")
        return {
            "sid": sms.sid,
            "account_sid": self.account_sid,
            "to": sms.form["To"],
            "from": sms.form.get("From"),
            "messaging_service_sid": service,
            "body": body,
            "status": "accepted" if service else "queued",
            "num_segments": str(max(1, -(-len(body) // 160))),
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "error_code": None,
            "error_message": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sms.sid}.json",
        }
