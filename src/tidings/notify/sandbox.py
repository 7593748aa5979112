"""Sandboxed environments: external channels go to the outbox unless allow-listed.

Every environment but production is a sandbox unless told otherwise (``Tidings(sandbox=
...)``, ``sandbox`` in tidings.toml, ``$TIDINGS_SANDBOX``), so staging can never text a
real patient. The allow-list holds recipient ids, email addresses, phone numbers or push
tokens that are still really sent to (the team's own test devices). A diverted delivery
is marked ``sandboxed`` and its message is in ``app.outbox``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from tidings.errors import ValidationError
from tidings.providers.base import Provider
from tidings.providers.outbox import Outbox

if TYPE_CHECKING:
    from tidings.app import Tidings
    from tidings.records.notify import Delivery


def check_allow_list(values: Sequence[str]) -> tuple[str, ...]:
    if isinstance(values, str) or not all(isinstance(v, str) and v.strip() for v in values):
        raise ValidationError("sandbox_allow must be a list of recipient ids or addresses")
    return tuple(v.strip() for v in values)


def allowed(app: Tidings, d: Delivery, address: str) -> bool:
    """Whether ``address`` of delivery ``d`` may really be sent to."""
    if not app.sandboxed:
        return True
    allow = app.sandbox_allow
    return d.to in allow or address in allow or address.lower() in {a.lower() for a in allow}


def divert(app: Tidings, d: Delivery, address: str) -> list[Provider] | None:
    """The outbox in place of the channel's providers when the sandbox holds the send;
    None when it may go out as configured (or when the channel only has the outbox
    anyway: then the sandbox holds nothing back and the delivery is not marked)."""
    if allowed(app, d, address):
        return None
    if all(isinstance(p, Outbox) for p in app.notifications.providers(d.channel)):
        return None
    outbox = Outbox()
    outbox.bind(app.store, app.clock)
    return [outbox]
