"""The recipient's own pages and API: the preference centre (``GET /preferences?token=``,
saved by a form POST), its JSON API (``/api/v1/me/preferences``) and one-click
unsubscribe (RFC 8058: ``POST /u/{token}`` opts out, ``GET`` only asks to confirm).

Every page is in the recipient's language (vi or en). A token that is expired, altered
or of another environment gets a page that says so and offers nothing to change.
"""

from __future__ import annotations

import asyncio
import zoneinfo
from functools import cache
from importlib import resources
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

import jinja2
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from tidings.app import Tidings
from tidings.errors import TidingsError, UnknownRecipientError, ValidationError
from tidings.notify.tokens import InvalidTokenError
from tidings.records.notify import Channel
from tidings.server.errors import ApiError
from tidings.server.preference_centre import LANGUAGES, apply, recipient_of, state, unsubscribe

pages = APIRouter(tags=["preferences"])
api = APIRouter(prefix="/api/v1/me", tags=["preferences"])
MAX_FORM = 64 * 1024

STRINGS: dict[str, dict[str, Any]] = {
    "en": {
        "title": "Notification preferences",
        "intro": "Choose what reaches you, and where.",
        "types": "Notifications",
        "types_caption": "Tick a box to receive that kind of notification on that channel.",
        "type": "Kind",
        "channel": {"in_app": "In the app", "email": "Email", "push": "Push", "sms": "SMS"},
        "critical_why": "Always on: these are critical (safety, security or legal) and "
        "cannot be turned off.",
        "quiet": "Quiet hours",
        "quiet_why": "Push and SMS wait until quiet hours end. Leave both empty for none.",
        "quiet_from": "From",
        "quiet_to": "Until",
        "where": "Time zone and language",
        "timezone": "Time zone",
        "language": "Language",
        "save": "Save",
        "saved": lambda n: "Saved." if n else "Saved (nothing had changed).",
        "bad_title": "This link cannot be used",
        "bad": "This link has expired or is not valid, so nothing can be changed here. "
        "Open the newest message you received and use its link.",
        "unsub_title": "Unsubscribe",
        "unsub_ask": "Stop receiving “{type}” emails?",
        "unsub_button": "Unsubscribe",
        "unsub_done": "Done: you will no longer receive “{type}” emails.",
        "unsub_already": "You were already unsubscribed from “{type}” emails.",
        "manage": "Manage all notification preferences",
    },
    "vi": {
        "title": "Tùy chọn thông báo",
        "intro": "Chọn những thông báo bạn muốn nhận, và nhận ở đâu.",
        "types": "Thông báo",
        "types_caption": "Đánh dấu ô để nhận loại thông báo đó qua kênh đó.",
        "type": "Loại",
        "channel": {"in_app": "Trong ứng dụng", "email": "Email", "push": "Đẩy", "sms": "SMS"},
        "critical_why": "Luôn bật: đây là thông báo quan trọng (an toàn, bảo mật hoặc pháp lý) "
        "và không thể tắt.",
        "quiet": "Giờ yên tĩnh",
        "quiet_why": "Thông báo đẩy và SMS sẽ chờ đến hết giờ yên tĩnh. Để trống cả hai nếu "
        "không dùng.",
        "quiet_from": "Từ",
        "quiet_to": "Đến",
        "where": "Múi giờ và ngôn ngữ",
        "timezone": "Múi giờ",
        "language": "Ngôn ngữ",
        "save": "Lưu",
        "saved": lambda n: "Đã lưu." if n else "Đã lưu (không có gì thay đổi).",
        "bad_title": "Không thể dùng liên kết này",
        "bad": "Liên kết đã hết hạn hoặc không hợp lệ nên không thể thay đổi gì ở đây. "
        "Hãy mở thư mới nhất bạn nhận được và dùng liên kết trong đó.",
        "unsub_title": "Hủy đăng ký",
        "unsub_ask": "Ngừng nhận email “{type}”?",
        "unsub_button": "Hủy đăng ký",
        "unsub_done": "Xong: bạn sẽ không nhận email “{type}” nữa.",
        "unsub_already": "Bạn đã hủy đăng ký email “{type}” từ trước.",
        "manage": "Quản lý mọi tùy chọn thông báo",
    },
}
CHANNELS = [str(c) for c in Channel]


@cache
def _env() -> jinja2.Environment:
    folder = resources.files("tidings.server").joinpath("templates")
    return jinja2.Environment(
        loader=jinja2.FunctionLoader(lambda name: folder.joinpath(name).read_text("utf-8")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


@cache
def _zones() -> list[str]:
    return sorted(z for z in zoneinfo.available_timezones() if "/" in z or z == "UTC")


def _app(request: Request) -> Tidings:
    app: Tidings = request.app.state.tidings
    return app


def _lang(value: str | None) -> str:
    code = (value or "").split("-")[0].lower()
    return code if code in STRINGS else "en"


def _browser_lang(request: Request) -> str:
    return _lang(request.headers.get("accept-language", "").split(",")[0])


def _origin(request: Request, where: str) -> str:
    host = request.client.host if request.client else None
    return f"{where} ({host})" if host else where


def _page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = _env().get_template(name).render(**context)
    headers = {
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",  # the token is in the URL
        "X-Frame-Options": "DENY",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
        "form-action 'self'; frame-ancestors 'none'",
    }
    return HTMLResponse(html, status_code=status, headers=headers)


def _bad_link(locale: str) -> HTMLResponse:
    t = STRINGS[locale]
    return _page(
        "recipient_message.html", 400, locale=locale, title=t["bad_title"], message=t["bad"],
        bad=True, form_action=None, preferences_link=None, t=t,
    )  # fmt: skip


async def _centre(
    request: Request, app: Tidings, recipient: str, token: str, *, saved: int | None,
    error: str | None = None,
) -> HTMLResponse:  # fmt: skip
    current = await asyncio.to_thread(state, app, recipient)
    locale = _lang(current.locale)
    t = STRINGS[locale]
    present = {c for row in current.types for c in row.channels}
    return _page(
        "preference_centre.html",
        422 if error else 200,
        locale=locale,
        title=t["title"],
        t=t,
        state=current,
        channels=[c for c in CHANNELS if c in present],
        zones=_zones(),
        languages=LANGUAGES,
        token=token,
        action="/preferences",
        saved=saved,
        error=error,
    )


_BAD_LINK: dict[int | str, dict[str, Any]] = {
    400: {
        "description": "The link is expired, altered or not valid here: a page "
        "that says so and offers nothing to change."
    }
}


@pages.get(
    "/preferences",
    response_class=HTMLResponse,
    summary="The preference centre",
    responses=_BAD_LINK,
)
async def preference_centre(
    request: Request,
    token: Annotated[str, Query(max_length=4096)] = "",
    saved: Annotated[int | None, Query(ge=0, le=10_000)] = None,
) -> Response:
    app = _app(request)
    try:
        recipient = await asyncio.to_thread(recipient_of, app, token)
        return await _centre(request, app, recipient, token, saved=saved)
    except (InvalidTokenError, UnknownRecipientError):
        return _bad_link(_browser_lang(request))


@pages.post("/preferences", response_class=HTMLResponse, include_in_schema=False)
async def save_preference_centre(request: Request) -> Response:
    """The centre's form: every shown box (``shown``), the ticked ones (``on``)."""
    app = _app(request)
    body = await request.body()
    if len(body) > MAX_FORM:
        raise ApiError(413, "form too large")
    form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    token = (form.get("token") or [""])[0]
    try:
        recipient = await asyncio.to_thread(recipient_of, app, token)
    except (InvalidTokenError, UnknownRecipientError):
        return _bad_link(_browser_lang(request))
    ticked = set(form.get("on", []))
    toggles: dict[tuple[str, str], bool] = {}
    for pair in form.get("shown", []):
        type_id, _, channel = pair.partition("|")
        toggles[(type_id, channel)] = pair in ticked
    profile: dict[str, Any] = {}
    for name in ("timezone", "locale"):
        if form.get(name, [""])[0]:
            profile[name] = form[name][0]
    start, end = form.get("quiet_start", [""])[0], form.get("quiet_end", [""])[0]
    if "quiet_start" in form or "quiet_end" in form:
        profile["quiet_hours"] = (start, end) if start or end else None
    try:
        changed = await asyncio.to_thread(
            lambda: apply(
                app, recipient, toggles=toggles, profile=profile, actor="recipient",
                origin=_origin(request, "preference centre"),
            )
        )  # fmt: skip
    except ValidationError as exc:
        return await _centre(request, app, recipient, token, saved=None, error=str(exc))
    # Post/redirect/get: a reload does not post again.
    return RedirectResponse(f"/preferences?token={quote(token)}&saved={changed}", 303)


# -- one-click unsubscribe (RFC 8058) ------------------------------------------------
def _locale_of(app: Tidings, recipient: str) -> str:
    return _lang(app.recipients.get(recipient).locale or app.notifications.default_locale)


@pages.get(
    "/u/{token}",
    response_class=HTMLResponse,
    summary="Confirm unsubscribing (changes nothing)",
    responses=_BAD_LINK,
)
async def unsubscribe_page(
    request: Request, token: Annotated[str, Path(max_length=4096)]
) -> Response:
    """A page asking to confirm; it changes nothing (mail scanners follow links)."""
    app = _app(request)
    try:
        recipient, type_id = await asyncio.to_thread(app.links.verify_unsubscribe_token, token)
        locale = await asyncio.to_thread(_locale_of, app, recipient)
        app.notifications.get_type(type_id)
    except (InvalidTokenError, UnknownRecipientError, TidingsError):
        return _bad_link(_browser_lang(request))
    t = STRINGS[locale]
    return _page(
        "recipient_message.html", locale=locale, title=t["unsub_title"], t=t, bad=False,
        message=t["unsub_ask"].format(type=type_id), form_action=f"/u/{quote(token)}",
        button=t["unsub_button"], preferences_link=None,
    )  # fmt: skip


@pages.post(
    "/u/{token}",
    response_class=HTMLResponse,
    summary="One-click unsubscribe: opt out of this type by email (RFC 8058)",
    responses=_BAD_LINK,
)
async def unsubscribe_now(
    request: Request, token: Annotated[str, Path(max_length=4096)]
) -> Response:
    """What a mailbox provider's unsubscribe button posts (``List-Unsubscribe=One-Click``)
    and the confirmation page's button: 200 and a page saying it is done."""
    app = _app(request)
    try:
        recipient, type_id, changed = await asyncio.to_thread(
            unsubscribe, app, token, _origin(request, "one-click unsubscribe")
        )
        locale = await asyncio.to_thread(_locale_of, app, recipient)
        link = await asyncio.to_thread(app.links.preferences_url, recipient)
    except (InvalidTokenError, UnknownRecipientError, TidingsError):
        return _bad_link(_browser_lang(request))
    t = STRINGS[locale]
    message = (t["unsub_done"] if changed else t["unsub_already"]).format(type=type_id)
    return _page(
        "recipient_message.html", locale=locale, title=t["unsub_title"], t=t, bad=False,
        message=message, form_action=None, preferences_link=link,
    )  # fmt: skip


# -- the JSON API --------------------------------------------------------------------
async def me(
    request: Request,
    token: Annotated[str | None, Query(max_length=4096, description="Or a Bearer token.")] = None,
) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    given = value.strip() if scheme.lower() == "bearer" and value.strip() else token
    if not given:
        raise ApiError(401, "missing token: 'Authorization: Bearer <inbox or preferences token>'")
    try:
        recipient = await asyncio.to_thread(recipient_of, _app(request), given)
    except InvalidTokenError as exc:
        raise ApiError(401, f"invalid token: {exc}") from None
    request.app.state.auth.limit(f"me:{recipient}")
    return recipient


Me = Annotated[str, Depends(me)]


class TypePreferenceOut(BaseModel):
    type: str
    critical: bool = Field(description="Always on; cannot be turned off.")
    channels: dict[str, bool]


class MyPreferencesOut(BaseModel):
    recipient_id: str
    locale: str
    timezone: str
    quiet_hours: list[str] | None
    types: list[TypePreferenceOut]


class ToggleIn(BaseModel):
    model_config = {"extra": "forbid"}
    type: str = Field(min_length=1, max_length=200)
    channel: Channel
    enabled: bool


class MyPreferencesIn(BaseModel):
    model_config = {"extra": "forbid"}
    preferences: list[ToggleIn] = Field(default_factory=list, max_length=500)
    locale: str | None = Field(default=None, max_length=35)
    timezone: str | None = Field(default=None, max_length=64)
    quiet_hours: list[str] | None = Field(
        default=None, description='["22:00", "07:00"]; [] for none.', max_length=2
    )


def _out(app: Tidings, recipient: str) -> MyPreferencesOut:
    return MyPreferencesOut.model_validate(state(app, recipient).to_json())


@api.get("/preferences", response_model=MyPreferencesOut, summary="My preferences")
async def my_preferences(request: Request, recipient: Me) -> MyPreferencesOut:
    return await asyncio.to_thread(_out, _app(request), recipient)


@api.put(
    "/preferences",
    response_model=MyPreferencesOut,
    summary="Change my preferences (only what is given; logged with who and from where)",
)
async def change_my_preferences(
    request: Request, recipient: Me, body: MyPreferencesIn
) -> MyPreferencesOut:
    app = _app(request)
    profile: dict[str, Any] = {}
    if body.locale is not None:
        profile["locale"] = body.locale
    if body.timezone is not None:
        profile["timezone"] = body.timezone
    if body.quiet_hours is not None:
        profile["quiet_hours"] = tuple(body.quiet_hours) if body.quiet_hours else None
    toggles = {(p.type, str(p.channel)): p.enabled for p in body.preferences}
    origin = _origin(request, "api")

    def run() -> MyPreferencesOut:
        apply(app, recipient, toggles=toggles, profile=profile, actor="recipient", origin=origin)
        return _out(app, recipient)

    return await asyncio.to_thread(run)
