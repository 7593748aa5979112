"""Sandboxed environments: external channels go to the outbox unless allow-listed.

Every environment but production is a sandbox unless told otherwise (``Tidings(sandbox=
...)``, ``sandbox`` in tidings.toml, ``$TIDINGS_SANDBOX``), so staging can never text a
real patient. The allow-list holds recipient ids, email addresses, phone numbers or push
tokens that are still really sent to (the team's own test devices). A diverted delivery
is marked ``sandboxed`` and its message is in ``app.outbox``. The service holds the
settings and diverts sends (:meth:`~tidings.notify.service.Notifications.divert`).
"""

from __future__ import annotations

from collections.abc import Sequence

from tidings.errors import ValidationError
from tidings.records.notify import Delivery


def check_allow_list(values: Sequence[str]) -> tuple[str, ...]:
    if isinstance(values, str) or not all(isinstance(v, str) and v.strip() for v in values):
        raise ValidationError("sandbox_allow must be a list of recipient ids or addresses")
    return tuple(v.strip() for v in values)


def allowed(allow: Sequence[str], d: Delivery, address: str) -> bool:
    """Whether ``address`` of delivery ``d`` is on the allow-list (matched case-blind)."""
    return d.to in allow or address in allow or address.lower() in {a.lower() for a in allow}
