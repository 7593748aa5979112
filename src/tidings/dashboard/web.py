"""The dashboard as a Starlette application to mount under the API server.

``dashboard(app)`` returns it; ``Mount("/dashboard", dashboard(app))`` (or FastAPI's
``api.mount``) serves it. Every page but the sign-in form requires a session; every
POST requires the session's CSRF token. Pages update live over Server-Sent Events: the
server re-renders a page's live part at an interval and sends it when it changed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import datetime
from importlib import resources
from typing import Any
from urllib.parse import urlencode

import jinja2
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from tidings.app import Tidings
from tidings.dashboard import notify_pages, pages
from tidings.dashboard.auth import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    SESSION_SECONDS,
    Session,
    Signer,
    check_hash,
    verify_password,
)
from tidings.dashboard.sessions import LoginThrottle, LoginTokens, SessionBook
from tidings.errors import ConfigError, TidingsError, UnknownScheduleError
from tidings.keys import key_environment
from tidings.limits import readable, readable_text
from tidings.settings import env_dashboard_password_hash

Endpoint = Callable[[Request], Awaitable[Response]]
KeyCheck = Callable[[str], str | None]
"""An admin API key -> a short name for who signed in, or None if it is not one."""
Switcher = Callable[[Request], list[dict[str, Any]]]
"""The environments the header's switcher offers: ``name``, ``href``, ``sandbox``,
``current`` for each."""

_PUBLIC = ("/login", "/static/")
SESSION_RECHECK = 10.0
"""Seconds between checks that a live page's session still stands."""
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; frame-src 'self'; form-action 'self'; base-uri 'none'"
)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("tidings.dashboard", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pretty"] = _pretty
    env.filters["when"] = _when
    env.filters["ago"] = _duration
    env.filters["seconds"] = humanize_seconds
    env.filters["clip"] = clip
    env.filters["qs"] = lambda params: urlencode(params)
    return env


def _pretty(value: Any) -> str:
    try:
        return json.dumps(readable(value), indent=2, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError):  # sort_keys over mixed key types, and the like
        return repr(value)


def _when(value: datetime | None) -> Markup:
    """A time as ``<time>``: one unbroken line in any column (see app.css)."""
    if value is None:
        return Markup("")
    return Markup('<time datetime="{}">{}</time>').format(
        value.isoformat(), value.strftime("%Y-%m-%d %H:%M:%S")
    )


def humanize_seconds(seconds: float) -> str:
    """A duration in the unit a person would say: 120 ms, 4.2 s, 12 min, 5.5 h, 3.0 d."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def clip(text: str | None, limit: int = 80) -> str:
    """``text`` on one line, at most ``limit`` characters, ending in "…" when cut."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _duration(start: datetime | None, end: datetime | None = None) -> str:
    if start is None or end is None:
        return ""
    return humanize_seconds((end - start).total_seconds())


class Dashboard:
    """Routes and state of one mounted dashboard."""

    def __init__(
        self,
        app: Tidings,
        *,
        password_hash: str | None,
        secret_key: str | None,
        key_check: KeyCheck | None,
        poll_interval: float,
        cookie_suffix: str = "",
        switcher: Switcher | None = None,
    ) -> None:
        self.app = app
        # Dashboards of other environments are mounted below this one's path, where the
        # browser also sends this one's cookies: their names must differ.
        self.session_cookie = SESSION_COOKIE + cookie_suffix
        self.login_cookie = LOGIN_COOKIE + cookie_suffix
        self.switcher = switcher
        self.password_hash = check_hash(password_hash) if password_hash else None
        self.key_check = key_check
        if self.password_hash is None and key_check is None:
            raise ConfigError(
                "the dashboard needs a way to sign in: set TIDINGS_DASHBOARD_PASSWORD_HASH "
                "(make it with `python -m tidings.dashboard.auth`)"
            )
        self._secret_key = secret_key
        self._signer: Signer | None = None
        self.book = SessionBook(app, self.password_hash)
        self.throttle = LoginThrottle()
        self.login_tokens = LoginTokens()
        self.poll_interval = poll_interval
        self.templates = _environment()

    @property
    def signer(self) -> Signer:
        """Made on first use: the environment's secret may live in its database, which
        need not be reachable when the server starts (``/readyz`` reports that)."""
        if self._signer is None:
            self._signer = Signer(self._secret_key or _secret(self.app), self.app.environment)
        return self._signer

    # -- plumbing ----------------------------------------------------------------------
    def render(
        self, request: Request, template: str, /, status: int = 200, **context: Any
    ) -> Response:
        session: Session | None = request.scope.get("tidings_session")
        html = self.templates.get_template(template).render(
            base=request.scope.get("root_path", ""),
            env=self.app.environment,
            sandbox=self.app.sandboxed,
            production=self.app.environment == "production",
            environments=self.switcher(request) if self.switcher else [],
            csrf=self.signer.csrf_token(session) if session else "",
            signed_in=session is not None,
            path=request.url.path,
            **context,
        )
        # readable(): a row stored before tidings refused lone surrogates still renders.
        return HTMLResponse(readable_text(html), status_code=status)

    def _base(self, request: Request) -> str:
        return str(request.scope.get("root_path", ""))

    def redirect(self, request: Request, path: str) -> Response:
        return RedirectResponse(self._base(request) + path, status_code=303)

    async def guard(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        route = request.url.path[len(self._base(request)) :] or "/"
        try:
            signer = await self.call(lambda: self.signer)
        except TidingsError as exc:  # production without a secret, or the database is down
            return PlainTextResponse(f"The dashboard is unavailable: {exc}", status_code=503)
        if route.startswith(_PUBLIC):
            return await call_next(request)
        session = signer.read_session(request.cookies.get(self.session_cookie))
        if session is not None:
            try:  # signed out, key revoked, password changed: no longer a session
                if not await self.call(self.book.is_live, signer, session):
                    session = None
            except TidingsError as exc:
                return PlainTextResponse(f"The dashboard is unavailable: {exc}", status_code=503)
        if session is None:
            if request.method == "GET" and "text/event-stream" not in request.headers.get(
                "accept", ""
            ):
                return self.redirect(request, "/login?" + urlencode({"next": route}))
            return PlainTextResponse("sign in first", status_code=401)
        request.scope["tidings_session"] = session
        response = await call_next(request)
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    async def headers(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        # Frames: only the sandboxed srcdoc of an email, which inherits this policy (no
        # remote images, no scripts); the dashboard itself cannot be framed.
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    def action(self, handler: Endpoint) -> Endpoint:
        """``handler`` behind the CSRF check (the form is read here, then cached)."""

        async def checked(request: Request) -> Response:
            session: Session | None = request.scope.get("tidings_session")
            form = await request.form()
            if session is None or not self.signer.check_csrf(session, str(form.get("csrf", ""))):
                return PlainTextResponse("CSRF token missing or wrong", status_code=403)
            return await handler(request)

        return checked

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    # -- sign-in -----------------------------------------------------------------------
    async def login_form(self, request: Request, error: str = "", status: int = 200) -> Response:
        token = secrets.token_urlsafe(18)  # a fresh one per form: each is good for one try
        response = self.render(
            request,
            "login.html",
            status=status,
            error=error,
            login_token=token,
            next=request.query_params.get("next", "/"),
            with_password=self.password_hash is not None,
            with_key=self.key_check is not None,
        )
        self._cookie(request, response, self.login_cookie, token, 600)
        return response

    async def login(self, request: Request) -> Response:
        form = await request.form()
        token = str(form.get("login_token", ""))
        cookie_token = request.cookies.get(self.login_cookie) or ""
        if not token or not secrets.compare_digest(
            token.encode("utf-8", "replace"), cookie_token.encode("utf-8", "replace")
        ):
            return PlainTextResponse("CSRF token missing or wrong", status_code=403)
        if not self.login_tokens.spend(token):
            return await self.login_form(request, "That form was used already: try again.", 403)
        secret = str(form.get("secret", ""))
        client = request.client.host if request.client else "unknown"
        account = "keys" if key_environment(secret) else "password"
        wait = self.throttle.retry_after(client, account)
        if wait:
            response = await self.login_form(
                request, f"Too many failed sign-ins: try again in {wait} s.", 429
            )
            response.headers["Retry-After"] = str(wait)
            return response
        who = await self.call(self._who, secret)
        if who is None:
            self.throttle.failed(client, account)
            return await self.login_form(request, "That password or key is not valid.", 401)
        self.throttle.succeeded(client)
        _, cookie = self.signer.new_session(who, binding=self.book.binding(self.signer, who))
        target = str(form.get("next", "/"))
        if not target.startswith("/") or target.startswith("//"):
            target = "/"
        response = self.redirect(request, target)
        self._cookie(request, response, self.session_cookie, cookie, SESSION_SECONDS)
        response.delete_cookie(self.login_cookie, path=self._base(request) or "/")
        return response

    def _who(self, secret: str) -> str | None:
        if not secret:
            return None
        if self.key_check is not None:
            who = self.key_check(secret)
            if who is not None:
                return who
        if self.password_hash is not None and verify_password(secret, self.password_hash):
            return "password"
        return None

    async def logout(self, request: Request) -> Response:
        session: Session | None = request.scope.get("tidings_session")
        if session is not None:  # refused from now on by every process, cookie or not
            await self.call(self.book.sign_out, session)
        response = self.redirect(request, "/login")
        response.delete_cookie(self.session_cookie, path=self._base(request) or "/")
        return response

    def _cookie(
        self, request: Request, response: Response, name: str, value: str, age: int
    ) -> None:
        response.set_cookie(
            name,
            value,
            max_age=age,
            path=self._base(request) or "/",
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )

    # -- pages -------------------------------------------------------------------------
    async def page(
        self, request: Request, template: str, build: Callable[[], dict[str, Any]]
    ) -> Response:
        try:
            context = await self.call(build)
        except TidingsError as exc:
            return self.render(request, "error.html", status=400, message=str(exc))
        live = request.url.path[len(self._base(request)) :]
        query = str(request.url.query)
        return self.render(request, template, live=f"{live}?{query}" if query else live, **context)

    async def overview(self, request: Request) -> Response:
        q = dict(request.query_params)
        return await self.page(request, "overview.html", lambda: pages.overview_page(self.app, q))

    async def runs(self, request: Request) -> Response:
        q = dict(request.query_params)
        search = q.get("q", "").strip()
        if search:
            found = await self.call(self.app.store.dashboard.run_statuses, [search])
            if found:
                return self.redirect(request, f"/runs/{search}")
            q.pop("q")
        done = q.pop("done", "")
        verb, _, n = done.partition(":")
        flash = (
            f"{n} run{'' if n == '1' else 's'} {verb}."
            if verb in ("cancelled", "replayed") and n.isdigit()
            else ""
        )
        return await self.page(
            request, "runs.html", lambda: {**pages.runs_page(self.app, q), "flash": flash}
        )

    async def run(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]
        context = await self.call(pages.run_page, self.app, run_id)
        if context is None:
            return self.render(request, "error.html", 404, message=f"No run with id {run_id}.")
        flash = request.query_params.get("done", "")
        return self.render(request, "run.html", live=f"/runs/{run_id}", flash=flash, **context)

    async def tasks(self, request: Request) -> Response:
        return await self.page(request, "tasks.html", lambda: pages.tasks_page(self.app))

    async def events(self, request: Request) -> Response:
        q = dict(request.query_params)
        return await self.page(request, "events.html", lambda: pages.events_page(self.app, q))

    async def deliveries(self, request: Request) -> Response:
        q = dict(request.query_params)
        return await self.page(
            request, "deliveries.html", lambda: notify_pages.deliveries_page(self.app, q)
        )

    async def delivery(self, request: Request) -> Response:
        delivery_id = request.path_params["delivery_id"]
        context = await self.call(notify_pages.delivery_page, self.app, delivery_id)
        if context is None:
            return self.render(request, "error.html", 404, message=f"No delivery {delivery_id}.")
        return self.render(request, "delivery.html", **context)

    async def outbox(self, request: Request) -> Response:
        q = dict(request.query_params)
        return await self.page(
            request, "outbox.html", lambda: notify_pages.outbox_page(self.app, q)
        )

    async def recipients(self, request: Request) -> Response:
        q = dict(request.query_params)
        return await self.page(
            request, "recipients.html", lambda: notify_pages.recipients_page(self.app, q)
        )

    async def topics(self, request: Request) -> Response:
        q = dict(request.query_params)
        return await self.page(
            request, "topics.html", lambda: notify_pages.topics_page(self.app, q)
        )

    async def broadcast(self, request: Request) -> Response:
        broadcast_id = request.path_params["broadcast_id"]
        context = await self.call(notify_pages.broadcast_page, self.app, broadcast_id)
        if context is None:
            return self.render(request, "error.html", 404, message=f"No broadcast {broadcast_id}.")
        live = request.url.path[len(self._base(request)) :]
        return self.render(request, "broadcast.html", live=live, **context)

    async def recipient(self, request: Request) -> Response:
        recipient_id = request.path_params["recipient_id"]
        context = await self.call(notify_pages.recipient_page, self.app, recipient_id)
        if context is None:
            return self.render(request, "error.html", 404, message=f"No recipient {recipient_id}.")
        return self.render(request, "recipient.html", **context)

    async def waiting(self, request: Request, error: str = "", status: int = 200) -> Response:
        now = self.app.clock.now()
        tokens = await self.call(self.app.store.tokens.open_tokens, now, 200)
        questions = await self.call(self.app.store.tokens.open_questions, now, 200)
        flash = request.query_params.get("done", "")
        return self.render(
            request, "waiting.html", status, tokens=tokens, questions=questions,
            asked={q.token_id for q in questions}, flash=flash, error=error,
        )  # fmt: skip

    async def recipient_export(self, request: Request) -> Response:
        """Everything held about the recipient, as a JSON file to download."""
        recipient_id = request.path_params["recipient_id"]
        try:
            data = await self.call(self.app.recipients.export, recipient_id)
        except TidingsError as exc:
            return self.render(request, "error.html", _status(exc), message=str(exc))
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", recipient_id)[:80] or "recipient"
        return Response(
            json.dumps(data, indent=2, ensure_ascii=False),
            media_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="recipient-{name}.json"'},
        )

    # -- actions -----------------------------------------------------------------------
    async def answer_question(self, request: Request) -> Response:
        question_id = request.path_params["question_id"]
        form = await request.form()
        action = str(form.get("action", ""))
        session: Session | None = request.scope.get("tidings_session")
        who = session.who if session is not None else "dashboard"
        try:
            outcome = await self.call(
                lambda: self.app.answer_question(question_id, action, by=f"dashboard {who}")
            )
        except TidingsError as exc:
            return await self.waiting(
                request, str(exc), 404 if isinstance(exc, LookupError) else 400
            )
        done = {"answered": f"Answered {question_id}: {action}.",
                "already": f"{question_id} was already answered.",
                "closed": f"{question_id} has closed."}[outcome]  # fmt: skip
        return self.redirect(request, "/waiting?" + urlencode({"done": done}))

    async def complete_token(self, request: Request) -> Response:
        token_id = request.path_params["token_id"]
        form = await request.form()
        text = str(form.get("data", "")).strip() or "null"
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            return await self.waiting(request, f"The data is not JSON: {exc}", 400)
        try:
            ok = await self.call(lambda: self.app.complete_token(token_id, data))
        except TidingsError as exc:
            return await self.waiting(
                request, str(exc), 404 if isinstance(exc, LookupError) else 400
            )
        done = f"Completed {token_id}." if ok else f"{token_id} was already completed or expired."
        return self.redirect(request, "/waiting?" + urlencode({"done": done}))

    async def recipient_erase(self, request: Request) -> Response:
        """Erase the recipient once the form repeats their id (the confirmation)."""
        recipient_id = request.path_params["recipient_id"]
        form = await request.form()
        if str(form.get("confirm", "")) != recipient_id:
            message = (
                f"Nothing was erased: type the recipient id {recipient_id!r} to confirm "
                "the erasure."
            )
            return self.render(request, "error.html", 400, message=message)
        session: Session = request.scope["tidings_session"]
        try:
            erasure = await self.call(
                lambda: self.app.recipients.erase(recipient_id, actor=f"dashboard {session.who}")
            )
        except TidingsError as exc:
            return self.render(request, "error.html", _status(exc), message=str(exc))
        return self.render(request, "erased.html", erasure=erasure)

    async def run_action(self, request: Request) -> Response:
        run_id, action = request.path_params["run_id"], request.path_params["action"]
        try:
            if action == "cancel":
                await self.call(self.app.cancel, run_id)
                return self.redirect(request, f"/runs/{run_id}?done=cancelled")
            if action == "replay":
                handle = await self.call(self.app.replay, run_id)
                return self.redirect(request, f"/runs/{handle.id}?done=replayed")
            if action == "replay-from":
                step = str((await request.form()).get("step", ""))
                handle = await self.call(self.app.replay, run_id, step)
                return self.redirect(request, f"/runs/{handle.id}?done=replayed-from")
            if action == "retry":
                ok = await self.call(
                    self.app.store.dashboard.retry_now, run_id, self.app.clock.now()
                )
                if ok:
                    self.app.kernel.wake()
                return self.redirect(
                    request, f"/runs/{run_id}?done={'retrying' if ok else 'not-retryable'}"
                )
        except TidingsError as exc:
            return self.render(request, "error.html", 400, message=str(exc))
        return PlainTextResponse("unknown action", status_code=404)

    async def bulk(self, request: Request) -> Response:
        """The run list's actions: on the selected runs, or every run the filter matches
        (a bulk action: its page follows the progress)."""
        form = await request.form()
        action = str(form.get("action", ""))
        picked = [str(v) for v in form.getlist("run")][: pages.PAGE_SIZE]
        back = {k[2:]: str(v) for k, v in form.items() if k.startswith("f-") and str(v)}
        try:
            if action in ("cancel-selected", "replay-selected"):
                act = self.app.cancel if action == "cancel-selected" else self.app.replay
                for run_id in picked:
                    await self.call(act, run_id)
                verb = "cancelled" if action == "cancel-selected" else "replayed"
                back["done"] = f"{verb}:{len(picked)}"
                return self.redirect(request, f"/runs?{urlencode(back)}")
            if action in ("cancel-filter", "replay-filter"):
                filters = await self.call(pages.bulk_filter, self.app, dict(back))
                runs = self.app.runs
                start = runs.cancel_many if action == "cancel-filter" else runs.replay_many
                made = await asyncio.to_thread(lambda: start(**filters))
                return self.redirect(request, f"/bulk/{made.id}")
        except TidingsError as exc:
            return self.render(request, "error.html", 400, message=str(exc))
        return PlainTextResponse("unknown action", status_code=404)

    async def bulk_action(self, request: Request) -> Response:
        bulk_id = request.path_params["bulk_id"]
        context = await self.call(pages.bulk_page, self.app, bulk_id)
        if context is None:
            return self.render(request, "error.html", 404, message=f"No bulk action {bulk_id}.")
        return self.render(request, "bulk.html", live=f"/bulk/{bulk_id}", **context)

    async def trigger(self, request: Request) -> Response:
        task_id = request.path_params["task_id"]
        form = await request.form()
        text = str(form.get("payload", "")).strip() or "null"
        try:
            payload = json.loads(text)
        except (ValueError, RecursionError) as exc:
            return await self._tasks_error(
                request, task_id, text, f"The payload is not JSON: {exc}"
            )
        try:
            handle = await self.call(lambda: self.app.trigger(task_id, payload))
        except TidingsError as exc:
            return await self._tasks_error(request, task_id, text, str(exc))
        return self.redirect(request, f"/runs/{handle.id}?done=triggered")

    async def _tasks_error(self, request: Request, task: str, text: str, error: str) -> Response:
        context = await self.call(pages.tasks_page, self.app)
        return self.render(
            request,
            "tasks.html",
            status=400,
            live="/tasks",
            error_task=task,
            error=error,
            error_payload=text,
            **context,
        )

    async def schedule_action(self, request: Request) -> Response:
        ref, action = request.path_params["ref"], request.path_params["action"]
        if action not in ("pause", "resume"):
            return PlainTextResponse("unknown action", status_code=404)
        do = self.app.schedules.pause if action == "pause" else self.app.schedules.resume
        try:
            await self.call(do, ref)
        except UnknownScheduleError as exc:
            return self.render(request, "error.html", 404, message=str(exc))
        return self.redirect(request, "/tasks")

    async def send_event(self, request: Request) -> Response:
        form = await request.form()
        name = str(form.get("name", "")).strip()
        text = str(form.get("data", "")).strip() or "null"
        try:
            data = json.loads(text)
            receipt = await self.call(lambda: self.app.send_event(name, data))
        except (ValueError, RecursionError) as exc:  # bad JSON or ValidationError
            context = await self.call(pages.events_page, self.app, {})
            return self.render(
                request,
                "events.html",
                status=400,
                live="/events",
                error=str(exc),
                form_name=name,
                form_data=text,
                **context,
            )
        return self.redirect(request, f"/events?sent={receipt.event_id}")

    # -- live updates ------------------------------------------------------------------
    async def live(self, request: Request) -> Response:
        """SSE: the page's live part, re-rendered and sent whenever it changes."""
        page = request.query_params.get("page", "/")
        render = self._live_renderer(request, page)
        if render is None:
            return PlainTextResponse("no live view for that page", status_code=404)
        return StreamingResponse(
            self._stream(request, render),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    def _live_renderer(
        self, request: Request, page: str
    ) -> Callable[[], Awaitable[tuple[str | None, str]]] | None:
        path, _, query = page.partition("?")
        q = dict(_parse_qs(query))
        session: Session = request.scope["tidings_session"]
        base = self._base(request)
        common = {
            "base": base,
            "csrf": self.signer.csrf_token(session),
            "env": self.app.environment,
        }
        fragment = self.templates.get_template("live.html")

        def html(kind: str, context: Mapping[str, Any]) -> str:
            return readable_text(fragment.render(kind=kind, live=page, **common, **context))

        builders: dict[str, Callable[[], dict[str, Any] | None]] = {
            "/": lambda: pages.overview_page(self.app, q),
            "/runs": lambda: pages.runs_page(self.app, q),
            "/tasks": lambda: pages.tasks_page(self.app),
            "/events": lambda: pages.events_page(self.app, q),
        }
        if path.startswith("/runs/"):
            run_id = path[len("/runs/") :]
            state: dict[str, str | None] = {"mark": None}

            async def run_view() -> tuple[str | None, str]:
                mark = await self.call(self.app.store.dashboard.run_fingerprint, run_id)
                if mark is not None and mark == state["mark"]:
                    return mark, ""
                state["mark"] = mark
                context = await self.call(pages.run_page, self.app, run_id)
                return mark, "" if context is None else html("run", context)

            return run_view
        if path.startswith("/bulk/"):
            bulk_id = path[len("/bulk/") :]

            async def bulk_view() -> tuple[str | None, str]:
                context = await self.call(pages.bulk_page, self.app, bulk_id)
                return None, "" if context is None else html("bulk", context)

            return bulk_view
        if path.startswith("/broadcasts/"):
            broadcast_id = path[len("/broadcasts/") :]

            async def broadcast_view() -> tuple[str | None, str]:
                context = await self.call(notify_pages.broadcast_page, self.app, broadcast_id)
                return None, "" if context is None else html("broadcast", context)

            return broadcast_view
        build = builders.get(path)
        if build is None:
            return None
        kind = {"/": "overview", "/runs": "runs", "/tasks": "tasks", "/events": "events"}[path]

        async def view() -> tuple[str | None, str]:
            context = await self.call(build)
            return None, "" if context is None else html(kind, context)

        return view

    async def _stream(
        self, request: Request, render: Callable[[], Awaitable[tuple[str | None, str]]]
    ) -> AsyncIterator[str]:
        last = ""
        idle = since_check = 0.0
        yield "retry: 2000\n\n"
        while not await request.is_disconnected():
            if (since_check := since_check + self.poll_interval) >= SESSION_RECHECK:
                since_check = 0.0  # a stream outlives no sign-out or revoked key for long
                session: Session = request.scope["tidings_session"]
                if not await self.call(self.book.is_live, self.signer, session):
                    yield 'event: problem\ndata: "signed out"\n\n'
                    return
            try:
                _, body = await render()
            except TidingsError as exc:
                yield f"event: problem\ndata: {json.dumps(str(exc))}\n\n"
                return
            digest = hashlib.sha256(body.encode()).hexdigest() if body else last
            if body and digest != last:
                last = digest
                yield "event: update\n" + "".join(f"data: {line}\n" for line in body.split("\n"))
                yield "\n"
                idle = 0.0
            elif (idle := idle + self.poll_interval) >= 15:
                yield ": keep-alive\n\n"
                idle = 0.0
            await asyncio.sleep(self.poll_interval)


def _parse_qs(query: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(query, keep_blank_values=False)


def _secret(app: Tidings) -> str:
    """The environment's signing secret (configured, or kept in a sandbox's database)."""
    return app.signing_secret().decode()


def dashboard(
    app: Tidings,
    *,
    password_hash: str | None = None,
    secret_key: str | None = None,
    key_check: KeyCheck | None = None,
    poll_interval: float = 1.0,
    cookie_suffix: str = "",
    switcher: Switcher | None = None,
) -> Starlette:
    """The dashboard of ``app`` as an ASGI application, to mount under any path.

    Args:
        app: the Tidings app whose runs, tasks and events it shows.
        password_hash: scrypt hash of the sign-in password; default
            ``$TIDINGS_DASHBOARD_PASSWORD_HASH`` (make one: ``python -m tidings.dashboard.auth``);
            ``""`` for none (sign-in with admin API keys only).
        secret_key: signs session cookies; default ``$TIDINGS_SECRET_KEY``.
        key_check: accepts an admin API key as a sign-in (the server passes its own).
        poll_interval: seconds between checks for changes behind a live page.
        cookie_suffix: appended to the cookie names (``_<env>`` for the dashboards of
            other environments served below this one's path).
        switcher: the environments the header links to (see ``Switcher``).
    """
    d = Dashboard(
        app,
        password_hash=(
            password_hash if password_hash is not None else env_dashboard_password_hash()
        ),
        secret_key=secret_key,
        key_check=key_check,
        poll_interval=poll_interval,
        cookie_suffix=cookie_suffix,
        switcher=switcher,
    )
    static = StaticFiles(directory=str(resources.files("tidings.dashboard") / "static"))
    routes = [
        Route("/", d.overview),
        Route("/login", d.login_form, methods=["GET"]),
        Route("/login", d.login, methods=["POST"]),
        Route("/logout", d.action(d.logout), methods=["POST"]),
        Route("/runs", d.runs),
        Route("/runs/{run_id}", d.run),
        Route("/runs/{run_id}/{action}", d.action(d.run_action), methods=["POST"]),
        Route("/bulk", d.action(d.bulk), methods=["POST"]),
        Route("/bulk/{bulk_id}", d.bulk_action),
        Route("/tasks", d.tasks),
        Route("/tasks/{task_id}/trigger", d.action(d.trigger), methods=["POST"]),
        Route("/schedules/{ref}/{action}", d.action(d.schedule_action), methods=["POST"]),
        Route("/events", d.events),
        Route("/events/send", d.action(d.send_event), methods=["POST"]),
        Route("/deliveries", d.deliveries),
        Route("/deliveries/{delivery_id}", d.delivery),
        Route("/outbox", d.outbox),
        Route("/recipients", d.recipients),
        Route("/recipients/{recipient_id}", d.recipient),
        Route("/recipients/{recipient_id}/export", d.recipient_export),
        Route("/recipients/{recipient_id}/erase", d.action(d.recipient_erase), methods=["POST"]),
        Route("/topics", d.topics),
        Route("/broadcasts/{broadcast_id}", d.broadcast),
        Route("/waiting", d.waiting),
        Route(
            "/waiting/questions/{question_id}/answer",
            d.action(d.answer_question),
            methods=["POST"],
        ),
        Route("/waiting/tokens/{token_id}/complete", d.action(d.complete_token), methods=["POST"]),
        Route("/live", d.live),
        Mount("/static", static, name="static"),
    ]
    middleware = [
        Middleware(BaseHTTPMiddleware, dispatch=d.headers),
        Middleware(BaseHTTPMiddleware, dispatch=d.guard),
    ]
    return Starlette(routes=routes, middleware=middleware)


def admin_key_check(app: Tidings) -> KeyCheck:
    """Sign-in with an admin API key of ``app``'s environment (publish keys are refused)."""
    from tidings.errors import InvalidApiKeyError
    from tidings.keys import verify_key

    def check(secret: str) -> str | None:
        try:
            key = verify_key(app.store, app.environment, secret)
        except InvalidApiKeyError:
            return None
        return f"key:{key.id}" if key.scope == "admin" else None

    return check


def mountable(app: Tidings, **options: Any) -> Starlette:
    """The dashboard signing in with admin API keys (and a password hash if configured);
    if it cannot start (a malformed password hash), a page saying what to fix."""
    try:
        return dashboard(app, key_check=admin_key_check(app), **options)
    except ConfigError as exc:
        message = f"The dashboard is off: {exc}"

        async def off(request: Request) -> Response:
            return PlainTextResponse(message, status_code=503)

        return Starlette(routes=[Route("/{path:path}", off)])


def _status(exc: TidingsError) -> int:
    return 404 if isinstance(exc, LookupError) else 400
