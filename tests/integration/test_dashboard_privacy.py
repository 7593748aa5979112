"""The dashboard's recipient page: export download, and erase behind CSRF and a typed
confirmation, over real HTTP on both stores."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from tests.integration.test_dashboard_http import HASH, csrf, login
from tests.serving import serve
from tidings import Tidings, UnknownRecipientError
from tidings.dashboard import dashboard

pytestmark = pytest.mark.usefixtures("no_secrets_in_logs")
WHO = "pat-zq7"


@pytest.fixture
def app(database_url: str) -> Iterator[Tidings]:
    a = Tidings(database_url, environment="staging")
    a.recipients.upsert(WHO, email="zq7@example.com", phone="+84901234567")
    a.recipients.add_push_token(WHO, "ExponentPushToken[zq7]")
    a.recipients.upsert("other-kx9", email="kx9@example.com")
    yield a
    a.close()


@pytest.fixture
def client(app: Tidings) -> Iterator[httpx.Client]:
    server = Starlette(
        routes=[Mount("/dashboard", dashboard(app, password_hash=HASH, secret_key="s1"))]
    )
    with serve(server) as url, httpx.Client(base_url=url) as c:
        yield c


def test_export_download_and_erase_with_confirmation(client: httpx.Client, app: Tidings) -> None:
    signed_out = client.get(f"/dashboard/recipients/{WHO}/export")
    assert signed_out.status_code in (302, 303, 307)  # to the sign-in form
    login(client)
    page = client.get(f"/dashboard/recipients/{WHO}")
    assert f'href="/dashboard/recipients/{WHO}/export"' in page.text
    assert re.search(r'<form method="post" action="/dashboard/recipients/pat-zq7/erase" '
                     r'data-confirm="Erase everything held about pat-zq7\?', page.text)  # fmt: skip

    download = client.get(f"/dashboard/recipients/{WHO}/export")
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("application/json")
    assert download.headers["content-disposition"] == (
        f'attachment; filename="recipient-{WHO}.json"'
    )
    assert json.loads(download.text)["recipient"]["email"] == "zq7@example.com"
    unknown = client.get("/dashboard/recipients/nobody/export")
    assert unknown.status_code == 404
    assert "no recipient with id &#39;nobody&#39;" in unknown.text

    token = csrf(client, f"/dashboard/recipients/{WHO}")
    forged = client.post(f"/dashboard/recipients/{WHO}/erase", data={"confirm": WHO})
    unconfirmed = client.post(
        f"/dashboard/recipients/{WHO}/erase", data={"csrf": token, "confirm": "pat"}
    )
    assert forged.status_code == 403
    assert unconfirmed.status_code == 400
    assert "Nothing was erased" in unconfirmed.text
    assert app.recipients.get(WHO).email == "zq7@example.com"  # refused: kept

    erased = client.post(f"/dashboard/recipients/{WHO}/erase", data={"csrf": token, "confirm": WHO})
    assert erased.status_code == 200
    assert "Recipient erased" in erased.text
    assert "zq7@example.com" not in erased.text
    with pytest.raises(UnknownRecipientError):
        app.recipients.get(WHO)
    (audit,) = app.recipients.erasures()
    assert audit.actor == "dashboard password"
    assert audit.id in erased.text
    assert client.get(f"/dashboard/recipients/{WHO}").status_code == 404
    again = client.post(f"/dashboard/recipients/{WHO}/erase", data={"csrf": token, "confirm": WHO})
    assert again.status_code == 404
    assert app.recipients.get("other-kx9").email == "kx9@example.com"
