"""The demo's HTTP server: the API (with the dashboard) plus a page for one inbox.

The page is a plain HTML shell around the server's embeddable inbox (``/inbox.js``):
the widget lists the user's in-app notifications through ``GET /api/v1/inbox`` and
receives new ones live over ``GET /api/v1/inbox/stream`` (Server-Sent Events), with the
signed inbox token the demo put in the link.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route

INBOX_PATH = "/demo/inbox"


def demo_asgi(api: Any) -> Starlette:
    """The API app ``api`` with the demo's inbox page in front of it."""

    async def inbox_page(request: Request) -> Response:
        return HTMLResponse(INBOX_HTML, headers={"Cache-Control": "no-store"})

    return Starlette(routes=[Route(INBOX_PATH, inbox_page), Mount("/", app=api)])


INBOX_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>tidings demo: inbox</title>
<style>
 body { font: 15px/1.4 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto;
        padding: 0 1rem; color: #1d1d1f; }
 h1 { font-size: 1.3rem; margin-bottom: .2rem; }
 p { color: #555; }
</style>
</head>
<body>
<h1>MediLink inbox of <span id="who"></span></h1>
<p>In-app notifications of one simulated user, live from the demo (the embeddable inbox
that <code>/inbox.js</code> serves, on the realtime stream of the inbox API).</p>
<div id="inbox"></div>
<script src="/inbox.js"></script>
<script>
  const params = new URLSearchParams(location.search);
  document.getElementById("who").textContent = params.get("user") || "";
  TidingsInbox.mount(document.getElementById("inbox"), {
    baseUrl: location.origin,
    token: params.get("token") || "",
    locale: params.get("locale") || undefined,
    open: true,
  });
</script>
</body>
</html>
"""
