"""One-click unsubscribe (RFC 8058) end to end: a notification sent through the app's
real providers (SMTP into aiosmtpd, Resend into its fake) carries List-Unsubscribe and
List-Unsubscribe-Post; templates get unsubscribe_url and preferences_url; a POST to the
link opts the recipient out of that type by email (200), a GET changes nothing; a
critical type carries no link."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from tests.conftest import START
from tests.contract.notify_support import write_templates
from tests.fakes.fake_resend import FakeResend
from tests.server.harness import serving
from tidings import Tidings
from tidings.providers.resend import Resend
from tidings.providers.smtp import Smtp
from tidings.testing import TestEngine

from .smtp_server import Relay, relay

PUBLIC = "https://notify.medilink.example"
TEMPLATES = {
    "results/en/email.subject": "Results for {{ name }}",
    "results/en/email.txt": "Hi {{ name }}.\nStop these: {{ unsubscribe_url }}\n"
    "Settings: {{ preferences_url }}",
    "security/en/email.subject": "Security code",
    "security/en/email.txt": "Code 1234.{% if unsubscribe_url %} {{ unsubscribe_url }}{% endif %}",
}


def _app(make_app: Callable[..., Tidings], tmp_path: Path, provider: object) -> Tidings:
    app = make_app(
        templates=write_templates(tmp_path / "t", TEMPLATES),
        channels={"email": [provider]},
        sandbox=False,
        secret_key="k" * 32,
        public_url=PUBLIC,
    )
    app.notification_type("results", channels=("email",))
    app.notification_type("security", channels=("email",), critical=True)
    app.recipients.upsert("an", email="an@example.com")
    return app


def _path(header: str) -> str:
    url = header.strip().strip("<>")
    assert url.startswith(f"{PUBLIC}/u/")
    return urlsplit(url).path


async def test_smtp_message_carries_one_click_and_a_post_flips_the_preference(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    seen = Relay()
    with relay(seen) as port:
        smtp = Smtp("127.0.0.1", port, sender="MediLink <noreply@medilink.vn>", timeout=5)
        app = _app(make_app, tmp_path, smtp)
        async with TestEngine(app, start=START, outbox=False) as t:
            app.notify("results", to="an", data={"name": "An"})
            app.notify("security", to="an", data={})
            await t.run_due()
            await t.run_due()
    by_subject = {r.message["Subject"]: r.message for r in seen.received}
    mime = by_subject["Results for An"]
    header = " ".join(str(mime["List-Unsubscribe"]).split())  # unfolded
    assert mime["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    path = _path(header)
    body = mime.get_content()
    assert f"{PUBLIC}/u/" in body
    assert f"{PUBLIC}/preferences?token=" in body
    critical = by_subject["Security code"]
    assert critical["List-Unsubscribe"] is None
    assert critical["List-Unsubscribe-Post"] is None
    assert critical.get_content().strip() == "Code 1234."

    with serving(app) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            await _one_click(app, http, path)


async def _one_click(app: Tidings, http: httpx.AsyncClient, path: str) -> None:
    """GET asks and changes nothing; POST opts out (once); a tampered link is refused."""
    looked = await http.get(path)  # what a mail scanner does: nothing changes
    assert looked.status_code == 200
    assert "<form" in looked.text
    assert 'method="post"' in looked.text
    assert app.preferences.get("an", type="results", channel="email") is True
    assert app.preferences.changes("an") == []

    form = {"Content-Type": "application/x-www-form-urlencoded"}
    clicked = await http.post(path, content="List-Unsubscribe=One-Click", headers=form)
    assert clicked.status_code == 200
    assert "no longer receive" in clicked.text
    assert app.preferences.get("an", type="results", channel="email") is False
    assert app.preferences.get("an", type="security", channel="email") is True
    (change,) = app.preferences.changes("an")
    assert change.actor == "recipient"
    assert change.origin is not None
    assert "one-click unsubscribe" in change.origin
    assert change.change == {"type": "results", "channel": "email", "enabled": False}
    again = await http.post(path)
    assert again.status_code == 200
    assert "already" in again.text
    assert len(app.preferences.changes("an")) == 1

    tampered = await http.post(path[:-2] + ("AA" if not path.endswith("AA") else "BB"))
    assert tampered.status_code == 400
    assert "<form" not in tampered.text


async def test_resend_request_carries_the_headers_and_the_next_email_is_skipped(
    make_app: Callable[..., Tidings], tmp_path: Path, resend_server: FakeResend
) -> None:
    resend = Resend(api_key="re_k", sender="MediLink <noreply@medilink.vn>",
                    base_url=resend_server.url)  # fmt: skip
    app = _app(make_app, tmp_path, resend)
    async with TestEngine(app, start=START, outbox=False) as t:
        app.notify("results", to="an", data={"name": "An"})
        await t.run_due()
        headers = resend_server.requests[0].json()["headers"]
        assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        path = _path(headers["List-Unsubscribe"])
        with serving(app) as url:
            async with httpx.AsyncClient(base_url=url) as http:
                assert (await http.post(path)).status_code == 200
        handle = app.notify("results", to="an", data={"name": "An"})
        await t.run_due()
        result = handle.result()
        assert result.channel("email") is not None
        assert result.channel("email").status == "suppressed"  # type: ignore[union-attr]
    assert len(resend_server.requests) == 1
    await resend.aclose()


async def test_a_broadcast_signs_each_recipients_own_links(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    seen = Relay()
    with relay(seen) as port:
        smtp = Smtp("127.0.0.1", port, sender="MediLink <noreply@medilink.vn>", timeout=5)
        app = _app(make_app, tmp_path, smtp)
        app.recipients.upsert("bo", email="bo@example.com")
        async with TestEngine(app, start=START, outbox=False) as t:
            app.notify("results", to=["an", "bo"], data={"name": "All"})
            for _ in range(3):
                await t.run_due()
    assert len(seen.received) == 2
    paths = set()
    for r in seen.received:
        mime = r.message
        assert mime["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        path = _path(" ".join(str(mime["List-Unsubscribe"]).split()))
        assert f"{PUBLIC}/preferences?token=" in mime.get_content()
        paths.add(path)
    assert len(paths) == 2  # one link per recipient, not one for the whole broadcast


def test_without_a_public_url_emails_carry_no_link(
    make_app: Callable[..., Tidings], tmp_path: Path
) -> None:
    app = make_app(secret_key="k" * 32)
    app.recipients.upsert("an")
    assert app.preferences_url("an").startswith("/preferences?token=")
    assert app.links.email_headers("an", "results", False) == {}
    assert app.links.template_links("an", "results", False) == {
        "unsubscribe_url": "",
        "preferences_url": "",
    }
