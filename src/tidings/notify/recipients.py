"""Recipients (``app.recipients``): profiles, validated addresses and push tokens."""

from __future__ import annotations

import asyncio
import builtins
import re
from datetime import time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import email_validator
import phonenumbers

from tidings import serde
from tidings.errors import UnknownRecipientError, ValidationError
from tidings.kernel import Kernel
from tidings.limits import check_json
from tidings.notify.privacy import RecipientData
from tidings.notify.templates import validate_locale
from tidings.records.notify import Erasure, PushToken, Recipient
from tidings.store.recipients import RecipientRow

_UNSET: Any = object()
_ID = re.compile(r"^[^\s/][^/]{0,254}$")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
MAX_TOKEN_LENGTH = 4096


def check_recipient_id(recipient_id: Any) -> str:
    if not isinstance(recipient_id, str) or not _ID.match(recipient_id):
        raise ValidationError(
            f"recipient id {recipient_id!r} is invalid: use a string of 1 to 255 characters "
            "without '/' or leading whitespace"
        )
    check_json(recipient_id, "recipient id")  # no lone surrogates
    return recipient_id


def check_email(email: Any) -> str:
    if not isinstance(email, str):
        raise ValidationError(f"email must be a string, got {type(email).__name__}")
    try:
        found = email_validator.validate_email(email, check_deliverability=False)
    except email_validator.EmailNotValidError as exc:
        raise ValidationError(f"email {email!r} is invalid: {exc}") from None
    return str(found.normalized)


def check_phone(phone: Any) -> str:
    """A phone number in international form, returned as E.164 (``+84901234567``)."""
    if not isinstance(phone, str):
        raise ValidationError(f"phone must be a string, got {type(phone).__name__}")
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(
            f"phone {phone!r} is invalid: {exc}; give it in international form, e.g. +84901234567"
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(f"phone {phone!r} is not a valid number")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def check_locale(locale: Any) -> str:
    """A locale tag in the canonical case template folders use (``pt_br`` -> ``pt-BR``)."""
    return validate_locale(locale)


def check_timezone(timezone: Any) -> str:
    if not isinstance(timezone, str) or not timezone:
        raise ValidationError(f"timezone {timezone!r} is invalid: use an IANA name")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            f"timezone {timezone!r} is not an IANA timezone (e.g. 'Asia/Ho_Chi_Minh', 'UTC')"
        ) from None
    return timezone


def parse_hhmm(value: str) -> time:
    match = _HHMM.match(value)
    assert match is not None
    return time(int(match.group(1)), int(match.group(2)))


def check_quiet_hours(quiet: Any) -> tuple[str, str] | None:
    if quiet is None:
        return None
    if (
        isinstance(quiet, str)
        or not isinstance(quiet, tuple | list)
        or len(quiet) != 2
        or not all(isinstance(q, str) and _HHMM.match(q) for q in quiet)
    ):
        raise ValidationError(
            f"quiet_hours {quiet!r} is invalid: give (start, end) as 'HH:MM' strings, "
            "e.g. ('22:00', '07:00')"
        )
    if quiet[0] == quiet[1]:
        raise ValidationError(f"quiet_hours {quiet!r} starts and ends at the same time")
    return (str(quiet[0]), str(quiet[1]))


def check_token(token: Any) -> str:
    if not isinstance(token, str) or not token.strip() or len(token) > MAX_TOKEN_LENGTH:
        raise ValidationError(f"push token {token!r} is invalid: a non-empty string is needed")
    return token


class Recipients:
    """``app.recipients``: who notifications go to."""

    def __init__(self, kernel: Kernel, data: RecipientData) -> None:
        self._kernel = kernel
        self._data = data

    def upsert(
        self,
        recipient_id: str,
        *,
        email: str | None = _UNSET,
        phone: str | None = _UNSET,
        locale: str | None = _UNSET,
        timezone: str = _UNSET,
        quiet_hours: tuple[str, str] | None = _UNSET,
        data: dict[str, Any] | None = _UNSET,
    ) -> Recipient:
        """Create or update a recipient; fields not given keep their stored values.

        Args:
            email: checked with email-validator and stored normalised; None clears it.
            phone: any international form; stored as E.164; None clears it.
            locale: language of their messages (``"vi"``); None: the app's default.
            timezone: IANA name (default ``UTC``); quiet hours are read in it.
            quiet_hours: ``("22:00", "07:00")``: push and SMS wait until the end;
                None: no quiet hours.
            data: custom JSON object kept with the profile.

        Raises:
            ValidationError: a field is invalid (it is named); nothing is stored.
        """
        given: dict[str, Any] = {}
        check_recipient_id(recipient_id)
        if email is not _UNSET:
            given["email"] = None if email is None else check_email(email)
        if phone is not _UNSET:
            given["phone"] = None if phone is None else check_phone(phone)
        if locale is not _UNSET:
            given["locale"] = None if locale is None else check_locale(locale)
        if timezone is not _UNSET:
            given["timezone"] = check_timezone(timezone)
        if quiet_hours is not _UNSET:
            given["quiet_hours"] = check_quiet_hours(quiet_hours)
        if data is not _UNSET:
            value = serde.normalize(data or {}, f"data of recipient {recipient_id!r}")
            if not isinstance(value, dict):
                raise ValidationError(f"data of recipient {recipient_id!r} must be a dict")
            given["data"] = serde.dumps(value, "data")
        row = RecipientRow(
            id=recipient_id,
            email=given.get("email"),
            phone=given.get("phone"),
            locale=given.get("locale"),
            timezone=given.get("timezone", "UTC"),
            quiet_hours=given.get("quiet_hours"),
            data=given.get("data", "{}"),
            given=frozenset(given),
        )
        return self._kernel.store.recipients.upsert(row, self._kernel.clock.now())

    def get(self, recipient_id: str) -> Recipient:
        """The recipient; UnknownRecipientError if there is none."""
        found = self._kernel.store.recipients.get(recipient_id)
        if found is None:
            raise UnknownRecipientError(f"no recipient with id {recipient_id!r}")
        return found

    def delete(self, recipient_id: str) -> bool:
        """Delete the profile, push tokens, preferences and inbox; the delivery log stays.

        Returns False if there was no such recipient.
        """
        return self._kernel.store.recipients.delete(recipient_id)

    def add_push_token(
        self,
        recipient_id: str,
        token: str,
        *,
        platform: str | None = None,
        device_name: str | None = None,
    ) -> PushToken:
        """Register a device token; a token already known moves to this recipient."""
        check_token(token)
        for name, value in (("platform", platform), ("device_name", device_name)):
            if value is not None and not isinstance(value, str):
                raise ValidationError(f"{name} must be a string, got {type(value).__name__}")
        added = self._kernel.store.recipients.add_push_token(
            recipient_id, token, platform, device_name, self._kernel.clock.now()
        )
        if added is None:
            raise UnknownRecipientError(f"no recipient with id {recipient_id!r}")
        return added

    def push_tokens(
        self, recipient_id: str, *, active_only: bool = True
    ) -> builtins.list[PushToken]:
        """The recipient's tokens, most recently registered first."""
        return self._kernel.store.recipients.push_tokens(recipient_id, active_only)

    def deactivate_push_token(self, token: str) -> bool:
        """Stop sending to ``token`` (False if unknown or already inactive)."""
        return self._kernel.store.recipients.deactivate_push_token(token, self._kernel.clock.now())

    def export(self, recipient_id: str) -> dict[str, Any]:
        """Everything tidings holds about the recipient, as JSON-ready data.

        Keys: ``recipient`` (the profile, or None if it was deleted), ``push_tokens``,
        ``preferences``, ``preference_changes``, ``suppressions`` (of their addresses),
        ``topics``, ``inbox_items``, ``notifications``, ``deliveries``, ``outbox``,
        ``broadcasts`` (those they were in the audience of), ``runs`` (each with its
        ``steps`` and ``logs``: runs whose payload holds the id at the app's
        ``recipient_key``, and runs that notified them), ``digests`` of those runs, and
        the ``events``, ``scheduled_events`` and ``schedules`` holding the id at
        ``recipient_key``. Times are ISO 8601 text.

        Raises:
            UnknownRecipientError: nothing names the recipient.
        """
        return self._data.export(recipient_id)

    def erase(self, recipient_id: str, *, actor: str = "app") -> Erasure:
        """Remove or anonymise everything tidings holds about the recipient, in one
        transaction, and record the erasure (when, ``actor``, rows per table; nothing
        about the person). docs/operations/privacy.md lists what each table keeps.

        A run still in flight that notifies them afterwards records ``skipped``
        deliveries with reason ``erased``.

        Raises:
            UnknownRecipientError: nothing names the recipient; nothing is changed.
        """
        return self._data.erase(recipient_id, actor)

    def erasures(self, limit: int = 100) -> builtins.list[Erasure]:
        """The audit of erasures, newest first."""
        return self._data.erasures(limit)

    async def export_async(self, recipient_id: str) -> dict[str, Any]:
        return await asyncio.to_thread(self.export, recipient_id)

    async def erase_async(self, recipient_id: str, *, actor: str = "app") -> Erasure:
        return await asyncio.to_thread(self.erase, recipient_id, actor=actor)

    async def erasures_async(self, limit: int = 100) -> builtins.list[Erasure]:
        return await asyncio.to_thread(self.erasures, limit)

    async def upsert_async(self, recipient_id: str, **fields: Any) -> Recipient:
        return await asyncio.to_thread(self.upsert, recipient_id, **fields)

    async def get_async(self, recipient_id: str) -> Recipient:
        return await asyncio.to_thread(self.get, recipient_id)

    async def delete_async(self, recipient_id: str) -> bool:
        return await asyncio.to_thread(self.delete, recipient_id)

    async def add_push_token_async(
        self, recipient_id: str, token: str, **options: Any
    ) -> PushToken:
        return await asyncio.to_thread(self.add_push_token, recipient_id, token, **options)

    async def push_tokens_async(
        self, recipient_id: str, *, active_only: bool = True
    ) -> builtins.list[PushToken]:
        return await asyncio.to_thread(self.push_tokens, recipient_id, active_only=active_only)

    async def deactivate_push_token_async(self, token: str) -> bool:
        return await asyncio.to_thread(self.deactivate_push_token, token)
