"""Notification types declared in code: ``app.notification_type(...)``."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic

from tidings import serde
from tidings.errors import ValidationError
from tidings.limits import check_json
from tidings.records.notify import Channel

_TYPE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")


@dataclass(frozen=True)
class NotificationType:
    """A kind of notification: where it may go and how it is written."""

    id: str
    channels: tuple[Channel, ...]
    """The channels it is sent on, in order (``in_app``, ``email``, ``push``, ``sms``)."""
    critical: bool = False
    """Critical types ignore opt-outs and quiet hours (never suppressed addresses)."""
    templates: Path | None = None
    """Its own templates root (holding ``<id>/<locale>/...``); None: the app's."""
    data_model: type[pydantic.BaseModel] | None = None
    """Validates ``data`` when the notification is sent."""

    def validate_data(self, data: Any) -> dict[str, Any]:
        """``data`` as the JSON object templates see; ValidationError naming the field."""
        if self.data_model is not None:
            if isinstance(data, pydantic.BaseModel):
                data = data.model_dump(mode="json")
            try:
                model = self.data_model.model_validate(data if data is not None else {})
            except pydantic.ValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in err['loc']) or '(data)'}: {err['msg']}"
                    for err in exc.errors()
                )
                raise ValidationError(
                    f"data of notification {self.id!r} does not match "
                    f"{self.data_model.__name__}: {problems}"
                ) from None
            result: dict[str, Any] = model.model_dump(mode="json")
            check_json(result, f"data of notification {self.id!r}")
            return result
        value = serde.normalize(
            data if data is not None else {}, f"data of notification {self.id!r}"
        )
        if not isinstance(value, dict):
            raise ValidationError(
                f"data of notification {self.id!r} must be a JSON object (a dict), "
                f"got {type(data).__name__}"
            )
        return value

    def select(self, channels: Sequence[str] | None) -> tuple[Channel, ...]:
        """The channels to route: the type's, or a subset of them."""
        if channels is None:
            return self.channels
        if isinstance(channels, str):
            channels = [channels]
        chosen = list(dict.fromkeys(channels))
        if not chosen:
            raise ValidationError(f"channels of notification {self.id!r} must not be empty")
        for channel in chosen:
            if channel not in self.channels:
                raise ValidationError(
                    f"channel {channel!r} is not declared by notification type {self.id!r} "
                    f"(it declares {', '.join(self.channels)})"
                )
        return tuple(c for c in self.channels if c in chosen)


def make_type(
    type_id: str,
    *,
    channels: Sequence[str],
    critical: bool,
    templates: str | Path | None,
    data_model: type[pydantic.BaseModel] | None,
) -> NotificationType:
    if not isinstance(type_id, str) or not _TYPE_ID.match(type_id):
        raise ValidationError(
            f"notification type id {type_id!r} is invalid: use letters, digits, '-', '_', '.' "
            "(at most 200 characters)"
        )
    if isinstance(channels, str) or not isinstance(channels, Sequence) or not channels:
        raise ValidationError(
            f"channels of notification type {type_id!r} must be a non-empty list of "
            f"{', '.join(Channel)}"
        )
    for channel in channels:
        if not isinstance(channel, str) or channel not in tuple(Channel):
            raise ValidationError(
                f"notification type {type_id!r}: unknown channel {channel!r} "
                f"(use {', '.join(Channel)})"
            )
    if not isinstance(critical, bool):
        raise ValidationError(f"critical of notification type {type_id!r} must be a bool")
    if data_model is not None and not (
        isinstance(data_model, type) and issubclass(data_model, pydantic.BaseModel)
    ):
        raise ValidationError(
            f"data_model of notification type {type_id!r} must be a pydantic model class"
        )
    root = None if templates is None else Path(templates)
    return NotificationType(
        type_id, tuple(dict.fromkeys(map(Channel, channels))), critical, root, data_model
    )


def describe(types: Mapping[str, NotificationType]) -> str:
    return ", ".join(sorted(types)) or "none"
