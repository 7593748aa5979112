"""What the preference centre shows and changes, shared by its page (``GET /preferences``)
and its JSON API (``/api/v1/me/preferences``): per notification type x channel whether
it is on (critical types locked on), quiet hours, timezone and language. Every change is
logged with who made it and from where (``app.preferences.changes``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tidings.app import Tidings
from tidings.errors import ValidationError
from tidings.notify.recipients import check_locale, check_quiet_hours, check_timezone
from tidings.notify.tokens import InvalidTokenError
from tidings.notify.urls import UNSUBSCRIBE_PURPOSE

LANGUAGES = {"en": "English", "vi": "Tiếng Việt"}
"""Languages the preference centre itself speaks (and offers for messages)."""


def recipient_of(app: Tidings, token: str) -> str:
    """The recipient a preference-centre token (or an inbox token) grants."""
    try:
        return app.links.verify_preferences_token(token)
    except InvalidTokenError as first:
        try:
            return app.verify_inbox_token(token)
        except InvalidTokenError:
            raise first from None


@dataclass
class TypeRow:
    id: str
    critical: bool
    channels: dict[str, bool] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.id, "critical": self.critical, "channels": dict(self.channels)}


@dataclass
class CentreState:
    recipient_id: str
    locale: str
    timezone: str
    quiet_hours: tuple[str, str] | None
    types: list[TypeRow]

    def to_json(self) -> dict[str, Any]:
        return {
            "recipient_id": self.recipient_id,
            "locale": self.locale,
            "timezone": self.timezone,
            "quiet_hours": list(self.quiet_hours) if self.quiet_hours else None,
            "types": [t.to_json() for t in self.types],
        }


def state(app: Tidings, recipient_id: str) -> CentreState:
    """The recipient's settings as the centre shows them (blocking)."""
    r = app.recipients.get(recipient_id)
    stored = {(p.type, str(p.channel)): p.enabled for p in app.preferences.list(recipient_id)}
    rows = []
    for type_id, ntype in sorted(app.notifications.types.items()):
        row = TypeRow(type_id, ntype.critical)
        for channel in ntype.channels:
            key = str(channel)
            own = stored.get((type_id, key))
            on = own if own is not None else stored.get((None, key), True)
            row.channels[key] = True if ntype.critical else on
        rows.append(row)
    locale = r.locale or app.notifications.default_locale
    return CentreState(recipient_id, locale, r.timezone, r.quiet_hours, rows)


def _toggles(
    current: CentreState, toggles: dict[tuple[str, str], bool]
) -> list[tuple[str, str, bool]]:
    """The toggles that differ from what is in effect; a bad one raises."""
    by_type = {t.id: t for t in current.types}
    changes: list[tuple[str, str, bool]] = []
    for (type_id, channel), on in toggles.items():
        row = by_type.get(type_id)
        if row is None:
            raise ValidationError(f"unknown notification type {type_id!r}")
        if channel not in row.channels:
            raise ValidationError(f"notification type {type_id!r} has no channel {channel!r}")
        if not isinstance(on, bool):
            raise ValidationError(f"{type_id}/{channel} must be true or false, got {on!r}")
        if row.critical and not on:
            raise ValidationError(
                f"{type_id!r} is critical (it always goes out): it cannot be turned off"
            )
        if not row.critical and row.channels[channel] != on:
            changes.append((type_id, channel, on))
    return changes


def _profile(current: CentreState, profile: dict[str, Any]) -> dict[str, Any]:
    """The profile fields that differ from the stored ones, checked."""
    fields: dict[str, Any] = {}
    if "locale" in profile and profile["locale"] != current.locale:
        fields["locale"] = check_locale(profile["locale"])
    if "timezone" in profile and profile["timezone"] != current.timezone:
        fields["timezone"] = check_timezone(profile["timezone"])
    if "quiet_hours" in profile:
        quiet = check_quiet_hours(profile["quiet_hours"])
        if quiet != current.quiet_hours:
            fields["quiet_hours"] = quiet
    return fields


def apply(
    app: Tidings,
    recipient_id: str,
    *,
    toggles: dict[tuple[str, str], bool],
    profile: dict[str, Any],
    actor: str,
    origin: str | None,
) -> int:
    """Apply what the recipient asked (blocking): ``toggles`` ``(type, channel) -> on``
    (only those that differ from what is in effect are written), ``profile`` any of
    ``locale``, ``timezone``, ``quiet_hours``. Everything is checked before anything is
    written. Returns how many settings changed."""
    current = state(app, recipient_id)
    changes = _toggles(current, toggles)
    fields = _profile(current, profile)
    for type_id, channel, on in changes:
        app.preferences.set(
            recipient_id, type=type_id, channel=channel, enabled=on, actor=actor, origin=origin
        )
    if fields:
        app.recipients.upsert(recipient_id, **fields)
        for name, value in fields.items():
            shown = list(value) if isinstance(value, tuple) else value
            app.preferences.note(
                recipient_id, {"field": name, "value": shown}, actor=actor, origin=origin
            )
    return len(changes) + len(fields)


def unsubscribe(app: Tidings, token: str, origin: str | None) -> tuple[str, str, bool]:
    """One-click unsubscribe (blocking): opt the token's recipient out of its type by
    email. Returns ``(recipient, type, changed)``; InvalidTokenError for a bad token."""
    recipient_id, type_id = app.links.verify_unsubscribe_token(token)
    ntype = app.notifications.get_type(type_id)
    if ntype.critical:  # no critical email carries the link; a forged one changes nothing
        raise InvalidTokenError(f"{UNSUBSCRIBE_PURPOSE} link for a critical type")
    before = app.preferences.get(recipient_id, type=type_id, channel="email")
    if before:
        app.preferences.set(
            recipient_id,
            type=type_id,
            channel="email",
            enabled=False,
            actor="recipient",
            origin=origin or "one-click unsubscribe",
        )
    return recipient_id, type_id, before
