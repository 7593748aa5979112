"""The demo's HTTP server: the API (with the dashboard) plus a small inbox page.

The inbox page is the demo's own: one HTML file whose script polls
``/demo/inbox.json`` every second with the signed inbox token in the URL, so a browser
shows a demo user's in-app notifications as they arrive. The JSON endpoint reads
``app.inbox`` exactly as the server's inbox API does, after checking the token.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route

from tidings.notify.tokens import InvalidTokenError

if TYPE_CHECKING:
    from tidings.app import Tidings

INBOX_PATH = "/demo/inbox"
INBOX_LIMIT = 30


def demo_asgi(app: Tidings, api: Any) -> Starlette:
    """The API app ``api`` behind the demo's inbox page."""

    async def inbox_json(request: Request) -> Response:
        token = request.query_params.get("token", "")
        try:
            recipient = await app.verify_inbox_token_async(token)
        except InvalidTokenError as exc:
            return JSONResponse({"error": {"code": "invalid_token", "message": str(exc)}}, 401)
        items, unread = await asyncio.gather(
            app.inbox.list_async(recipient, limit=INBOX_LIMIT),
            app.inbox.unread_count_async(recipient),
        )
        return JSONResponse(
            {
                "recipient": recipient,
                "unread": unread,
                "engine_now": app.clock.now().isoformat(),
                "items": [
                    {
                        "id": i.id,
                        "type": i.type,
                        "title": i.title,
                        "body": i.body,
                        "created_at": i.created_at.isoformat(),
                        "read": i.read,
                    }
                    for i in items
                ],
            }
        )

    async def inbox_page(request: Request) -> Response:
        return HTMLResponse(INBOX_HTML)

    return Starlette(
        routes=[
            Route(INBOX_PATH, inbox_page),
            Route(INBOX_PATH + ".json", inbox_json),
            Mount("/", app=api),
        ]
    )


INBOX_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tidings demo inbox</title>
<style>
 body { font: 15px/1.4 system-ui, sans-serif; max-width: 42rem; margin: 2rem auto;
        padding: 0 1rem; color: #1d1d1f; }
 h1 { font-size: 1.3rem; margin-bottom: .2rem; }
 .meta { color: #666; font-size: .85rem; margin-bottom: 1rem; }
 ul { list-style: none; padding: 0; }
 li { border: 1px solid #ddd; border-radius: 8px; padding: .6rem .8rem; margin: .5rem 0; }
 li.unread { border-left: 4px solid #2f6fed; }
 li.new { animation: flash 1.5s ease-out; }
 @keyframes flash { from { background: #fff6c2; } to { background: transparent; } }
 .title { font-weight: 600; }
 .type, .when { color: #666; font-size: .8rem; }
 .error { color: #b00020; }
</style>
</head>
<body>
<h1>Inbox of <span id="who">...</span> <span id="unread"></span></h1>
<div class="meta">tidings demo &middot; in-app notifications, newest first, updated every
second &middot; engine time <span id="now">-</span></div>
<div id="error" class="error" role="alert"></div>
<ul id="items" aria-live="polite"></ul>
<script>
const token = new URLSearchParams(location.search).get("token") || "";
const seen = new Set();
let first = true;
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text) e.textContent = text;
  return e;
}
async function refresh() {
  try {
    const r = await fetch("inbox.json?token=" + encodeURIComponent(token));
    const data = await r.json();
    if (!r.ok) throw new Error(data.error ? data.error.message : r.statusText);
    document.getElementById("error").textContent = "";
    document.getElementById("who").textContent = data.recipient;
    document.getElementById("unread").textContent = "(" + data.unread + " unread)";
    document.getElementById("now").textContent = new Date(data.engine_now).toLocaleString();
    const list = document.getElementById("items");
    list.replaceChildren(...data.items.map(item => {
      const li = el("li", item.read ? "" : "unread");
      if (!first && !seen.has(item.id)) li.classList.add("new");
      seen.add(item.id);
      li.append(el("div", "title", item.title || "(no title)"), el("div", "", item.body || ""),
                el("span", "type", item.type + " \\u00b7 "),
                el("span", "when", new Date(item.created_at).toLocaleString()));
      return li;
    }));
    first = false;
  } catch (e) {
    document.getElementById("error").textContent = "cannot read the inbox: " + e.message;
  }
}
refresh();
setInterval(refresh, 1000);
</script>
</body>
</html>
"""
