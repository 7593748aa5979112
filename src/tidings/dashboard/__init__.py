"""The web dashboard: runs, steps, waits, tasks, schedules and events in the browser.

``dashboard(app)`` returns an ASGI application to mount under the API server (the
server mounts it at ``/dashboard``). See docs/guides/dashboard.md.
"""

from __future__ import annotations

from tidings.dashboard.web import admin_key_check, dashboard, mountable

__all__ = ["admin_key_check", "dashboard", "mountable"]
