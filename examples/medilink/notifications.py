"""MediLink's notification types: channels and criticality, one line each.

Eleven of them reach the in-app inbox (the ten bilingual in-app types of MediLink and
"new-quotes", a burst of quotes told once), plus
the re-engagement email, which goes to people who by definition are not looking at the
app, and "quote-answered", which tells a provider by email and push what the hospital
answered to "quote-followup" (a question: accept or decline, see ``ctx.ask``). Every
type has its templates in ``templates/<type>/{vi,en}/``. SMS is reserved for critical
healthcare events: only the three critical types use it.
"""

from __future__ import annotations

from tidings import Tidings

TYPES: dict[str, tuple[tuple[str, ...], bool]] = {
    # type id: (channels, critical)
    "welcome": (("in_app", "email"), False),
    "profile-reminder": (("in_app", "email"), False),
    "first-request-nudge": (("in_app", "email"), False),
    "appointment-reminder": (("in_app", "email", "sms"), True),
    "quote-followup": (("in_app", "email", "push"), False),
    "quote-answered": (("email", "push"), False),
    "new-quotes": (("in_app", "push"), False),
    "prescription-ready": (("in_app", "push", "sms"), True),
    "lab-results-ready": (("in_app", "email", "push"), False),
    "re-engagement": (("email",), False),
    "service-request-new": (("in_app", "email", "push"), False),
    "service-request-reminder": (("in_app", "email", "push"), False),
    "service-request-urgent": (("in_app", "sms"), True),
}


def declare_notifications(app: Tidings) -> None:
    for type_id, (channels, critical) in TYPES.items():
        app.notification_type(type_id, channels=channels, critical=critical)
