"""Provider webhooks: ``POST /webhooks/resend``, ``POST /webhooks/twilio`` (delivery
status) and ``POST /webhooks/twilio/inbound`` (SMS replies answering questions).

No API key: the provider's signature is the authentication (Svix for Resend, checked with
each Resend provider's ``webhook_secret``; ``X-Twilio-Signature`` with each Twilio
provider's auth token). A bad, missing or expired signature is answered 401 and changes
nothing. A verified event is applied to its delivery once per event id
(:func:`tidings.providers.tracking.apply_update`) and answered 200 at once; a replay, an
event about no known message and an event type tidings does not track are answered 200
too, so the provider does not retry them for days.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape as xml_escape

from fastapi import APIRouter, Header, Request
from fastapi.responses import Response
from pydantic import BaseModel

from tidings.app import Tidings
from tidings.errors import ValidationError
from tidings.notify.answers import Labels, answer_message
from tidings.providers.resend import Resend
from tidings.providers.tracking import apply_update
from tidings.providers.twilio import Twilio
from tidings.providers.webhooks import (
    DeliveryUpdate,
    WebhookSignatureError,
    parse_resend_event,
    twilio_webhook,
    verify_svix,
    verify_twilio,
)
from tidings.server.errors import ApiError
from tidings.settings import ServerSettings

log = logging.getLogger("tidings.server")
router = APIRouter(tags=["webhooks"])


class WebhookOut(BaseModel):
    """What became of one webhook event."""

    status: Literal["applied", "recorded", "replayed", "unknown", "ignored"]
    """``applied``: the delivery's status moved; ``recorded``: added to its history only;
    ``replayed``: this event was applied before, nothing changed; ``unknown``: no delivery
    has that message id (accepted and logged); ``ignored``: not an event tidings tracks."""
    delivery_id: str | None = None
    delivery_status: str | None = None


_RESEND_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["type", "data"],
                "properties": {
                    "type": {"type": "string", "example": "email.delivered"},
                    "created_at": {"type": "string"},
                    "data": {"type": "object"},
                },
            }
        }
    },
}
_TWILIO_FIELDS = (
    "MessageSid",
    "MessageStatus",
    "AccountSid",
    "To",
    "From",
    "ErrorCode",
    "ErrorMessage",
)
_TWILIO_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/x-www-form-urlencoded": {
            "schema": {
                "type": "object",
                "required": ["MessageSid", "MessageStatus"],
                "properties": {name: {"type": "string"} for name in _TWILIO_FIELDS},
            }
        }
    },
}


def _app(request: Request) -> Tidings:
    app: Tidings = request.app.state.tidings
    return app


async def _apply(app: Tidings, update: DeliveryUpdate | None, what: str) -> WebhookOut:
    if update is None:
        log.info("%s webhook: an event type tidings does not track; ignored", what)
        return WebhookOut(status="ignored")
    result = await apply_update(app.kernel, update)
    return WebhookOut(
        status=result.outcome,
        delivery_id=result.delivery_id,
        delivery_status=result.status,
    )


# Resend (Svix) --------------------------------------------------------------------------


def _verify_resend(app: Tidings, headers: Mapping[str, str], body: bytes) -> str:
    """The ``svix-id`` of a webhook signed with any Resend provider's secret, or 401."""
    secrets = [
        p.webhook_secret
        for p in app.notifications.configured()
        if isinstance(p, Resend) and p.webhook_secret
    ]
    if not secrets:
        raise ApiError(
            404,
            f"no Resend provider with a webhook_secret is configured in environment "
            f"{app.environment!r}",
            code="webhook_not_configured",
        )
    problem = "no Resend webhook_secret is usable"
    for secret in secrets:
        try:
            return verify_svix(secret, headers, body)
        except WebhookSignatureError as exc:
            problem = str(exc)
        except ValidationError as exc:  # the configured secret itself is malformed
            log.error("Resend webhook_secret cannot verify webhooks: %s", exc)
    raise ApiError(401, f"Resend webhook rejected: {problem}")


@router.post(
    "/webhooks/resend",
    response_model=WebhookOut,
    summary="Resend delivery events (Svix-signed)",
    description="Configure this URL as a webhook endpoint in Resend and set the provider's "
    "webhook_secret to its signing secret (whsec_...). No API key: the Svix signature "
    "authenticates the request; a bad, missing or expired signature is answered 401.",
    openapi_extra={"requestBody": _RESEND_BODY},
)
async def resend_webhook(
    request: Request,
    svix_id: Annotated[str | None, Header(alias="svix-id")] = None,
    svix_timestamp: Annotated[str | None, Header(alias="svix-timestamp")] = None,
    svix_signature: Annotated[str | None, Header(alias="svix-signature")] = None,
) -> WebhookOut:
    app = _app(request)
    body = await request.body()
    msg_id = _verify_resend(app, request.headers, body)
    update = parse_resend_event(body)
    return await _apply(app, update and replace(update, event_id=msg_id), "Resend")


# Twilio ---------------------------------------------------------------------------------


def _called_urls(request: Request, twilios: list[Twilio]) -> list[str]:
    """The URLs Twilio may have signed: the public URL of this request (behind a proxy
    the received URL differs), each provider's ``status_callback``, the received URL."""
    settings: ServerSettings = request.app.state.settings
    query = f"?{request.url.query}" if request.url.query else ""
    urls: list[str] = []
    if settings.public_url:
        urls.append(f"{settings.public_url}{request.url.path}{query}")
    urls.extend(p.status_callback for p in twilios if p.status_callback)
    urls.append(str(request.url))
    return list(dict.fromkeys(urls))


def _form(body: bytes) -> list[tuple[str, str]]:
    # Undecodable bytes become U+FFFD: such a body cannot match a signature (401).
    return parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True)


@router.post(
    "/webhooks/twilio",
    response_model=WebhookOut,
    summary="Twilio SMS status callbacks (X-Twilio-Signature)",
    description="Point the Twilio provider's status_callback (or the Messaging Service's "
    "status callback) at this URL. Twilio signs the URL it calls: behind a proxy, set "
    "the server's public_url ($TIDINGS_PUBLIC_URL). A bad or missing signature is "
    "answered 401.",
    openapi_extra={"requestBody": _TWILIO_BODY},
)
async def twilio_status(
    request: Request,
    x_twilio_signature: Annotated[str | None, Header(alias="x-twilio-signature")] = None,
) -> WebhookOut:
    app = _app(request)
    twilios = [p for p in app.notifications.configured() if isinstance(p, Twilio)]
    if not twilios:
        raise ApiError(
            404,
            f"no Twilio provider is configured in environment {app.environment!r}",
            code="webhook_not_configured",
        )
    params = _form(await request.body())
    account = dict(params).get("AccountSid")
    tokens = [p.auth_token for p in twilios if p.account_sid == account] or [
        p.auth_token for p in twilios
    ]
    urls = _called_urls(request, twilios)
    for token in dict.fromkeys(tokens):
        for url in urls:
            try:
                update = twilio_webhook(token, url, request.headers, params)
            except WebhookSignatureError:
                continue
            return await _apply(app, update, "Twilio")
    reason = "missing" if not x_twilio_signature else "does not match"
    raise ApiError(
        401,
        f"Twilio webhook rejected: X-Twilio-Signature {reason} (behind a proxy, set the "
        "server's public_url to the base URL Twilio calls)",
    )


# Twilio inbound SMS: answers to questions (ctx.ask) ------------------------------------
_INBOUND_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/x-www-form-urlencoded": {
            "schema": {
                "type": "object",
                "required": ["From", "Body"],
                "properties": {
                    name: {"type": "string"}
                    for name in ("MessageSid", "AccountSid", "From", "To", "Body")
                },
            }
        }
    },
}
_TWIML = "application/xml"


def _twiml(text: str) -> Response:
    """A TwiML answer: Twilio sends ``text`` back to the sender as an SMS."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Message>'
        f"{xml_escape(text)}</Message></Response>"
    )
    return Response(body, media_type=_TWIML)


def _chosen(reply: str, actions: tuple[str, ...], labels: Labels) -> str | None:
    """The action a reply names: its number ("1"), its name or its label."""
    word = reply.strip().strip(".!").strip().lower()
    if word.isdigit() and 1 <= int(word) <= len(actions):
        return actions[int(word) - 1]
    for action in actions:
        if word in (action.lower(), labels.label(action).lower()):
            return action
    return None


def _answer_sms(app: Tidings, phone: str, reply: str) -> str:
    now = app.clock.now()
    question = app.store.tokens.open_question_for_phone(phone, now)
    if question is None:
        return (
            "Sorry, there is no open question for this number, so nothing was changed. "
            "For help, contact the sender directly."
        )
    if question.answered_at is not None or now >= question.expires_at:
        return answer_message("already" if question.answered_at else "closed", question)
    locale = app.recipients.get(question.recipient_id).locale or "en"
    labels = app.answers.labels(question.type_id, locale)
    action = _chosen(reply, question.actions, labels)
    if action is None:
        return (
            "Sorry, we did not understand your reply, so nothing was changed. "
            + labels.sms_prompt(question.actions)
        )
    outcome, after = app.answers.answer(question.id, action, channel="sms")
    return answer_message(outcome, after)


@router.post(
    "/webhooks/twilio/inbound",
    summary="Twilio incoming SMS: replies answering questions (X-Twilio-Signature)",
    description="Point the Twilio number's (or Messaging Service's) incoming message "
    "webhook at this URL. A reply ('1', '2', an action's name or label) answers the newest "
    "open question sent to that phone number; anything else gets a polite help reply and "
    "changes nothing. Answered with TwiML. A bad or missing signature is answered 401.",
    response_class=Response,
    responses={200: {"content": {_TWIML: {}}}},
    openapi_extra={"requestBody": _INBOUND_BODY},
)
async def twilio_inbound(
    request: Request,
    x_twilio_signature: Annotated[str | None, Header(alias="x-twilio-signature")] = None,
) -> Response:
    app = _app(request)
    twilios = [p for p in app.notifications.configured() if isinstance(p, Twilio)]
    if not twilios:
        raise ApiError(
            404,
            f"no Twilio provider is configured in environment {app.environment!r}",
            code="webhook_not_configured",
        )
    params = _form(await request.body())
    account = dict(params).get("AccountSid")
    tokens = [p.auth_token for p in twilios if p.account_sid == account] or [
        p.auth_token for p in twilios
    ]
    settings: ServerSettings = request.app.state.settings
    query = f"?{request.url.query}" if request.url.query else ""
    urls = [str(request.url)]
    if settings.public_url:
        urls.insert(0, f"{settings.public_url}{request.url.path}{query}")
    verified = False
    for token in dict.fromkeys(tokens):
        for url in urls:
            try:
                verify_twilio(token, url, params, x_twilio_signature)
            except WebhookSignatureError:
                continue
            verified = True
    if not verified:
        reason = "missing" if not x_twilio_signature else "does not match"
        raise ApiError(
            401,
            f"Twilio webhook rejected: X-Twilio-Signature {reason} (behind a proxy, set the "
            "server's public_url to the base URL Twilio calls)",
        )
    form = dict(params)
    phone, reply = form.get("From", ""), form.get("Body", "")
    if not phone:
        return _twiml("Sorry, this message had no sender number; nothing was changed.")
    text = await asyncio.to_thread(_answer_sms, app, phone, reply)
    return _twiml(text)
