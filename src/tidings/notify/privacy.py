"""Erase and export of one recipient (``app.recipients.export`` / ``erase``), and the
erased marker routing checks.

The store decides what each table keeps (see :mod:`tidings.store.db.privacy` and
docs/operations/privacy.md); this module checks the input, names the recipient's runs
through the app's ``recipient_key`` and makes the marker: the SHA-256 of the recipient
id, kept after the erasure so a run still in flight that notifies them records the
delivery as ``skipped`` (reason ``erased``) rather than failing.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from tidings.errors import ConfigError, UnknownRecipientError, ValidationError
from tidings.ids import new_id
from tidings.kernel import Kernel
from tidings.records.notify import Erasure
from tidings.store.privacy import ERASED_PREFIX, NewErasure, Subject

ERASED_REASON = "erased"
"""The reason of a delivery skipped because its recipient was erased."""
_PART = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$-]*$")


def check_recipient_key(key: object) -> tuple[str, ...] | None:
    """``Tidings(recipient_key=...)``: a dotted path into run payloads (``"userId"``,
    ``"patient.id"``), as a tuple of its parts; None if not given."""
    if key is None:
        return None
    parts = key.split(".") if isinstance(key, str) else []
    if not parts or not all(_PART.match(p) for p in parts):
        raise ConfigError(
            f"recipient_key must be a dotted path into run payloads like 'userId' or "
            f"'patient.id' (letters, digits, '_', '-', '$'; no part all digits), got {key!r}"
        )
    return tuple(parts)


def digest(recipient_id: str) -> str:
    """The erased marker of a recipient id (no personal data beyond the id's hash)."""
    return hashlib.sha256(recipient_id.encode("utf-8", "surrogatepass")).hexdigest()


def check_actor(actor: Any) -> str:
    if not isinstance(actor, str) or not 0 < len(actor) <= 200:
        raise ValidationError(f"actor must be a string of 1 to 200 characters, got {actor!r}")
    return actor


def _check_id(recipient_id: Any) -> str:
    if not isinstance(recipient_id, str) or not recipient_id or len(recipient_id) > 255:
        raise ValidationError(
            f"recipient id {recipient_id!r} is invalid: use a string of 1 to 255 characters"
        )
    if recipient_id.startswith(ERASED_PREFIX):
        raise ValidationError(
            f"{recipient_id!r} is the marker of an erasure, not a recipient: what it stands "
            "for was erased already"
        )
    return recipient_id


def erased_marker(kernel: Kernel, recipient_id: str) -> str | None:
    """What to record in place of a recipient that does not exist, if it was erased: the
    id (hashed) is marked erased, or it is a marker an erasure put in a run's payload."""
    privacy = kernel.store.privacy
    if recipient_id.startswith(ERASED_PREFIX):
        erasure = recipient_id[len(ERASED_PREFIX) :]
        return recipient_id if privacy.erasure(erasure) is not None else None
    found = privacy.erased(digest(recipient_id))
    return None if found is None else ERASED_PREFIX + found


class RecipientData:
    """Export and erase over the kernel's store (``app.recipients`` delegates here)."""

    def __init__(
        self, kernel: Kernel, recipient_key: tuple[str, ...] | None, sends: tuple[str, str]
    ) -> None:
        self._kernel = kernel
        self.recipient_key = recipient_key
        self._sends = sends

    def _subject(self, recipient_id: Any) -> Subject:
        return Subject(_check_id(recipient_id), self.recipient_key, *self._sends)

    def export(self, recipient_id: str) -> dict[str, Any]:
        subject = self._subject(recipient_id)
        found = self._kernel.store.privacy.export(subject)
        if found is None:
            raise UnknownRecipientError(
                f"no recipient with id {recipient_id!r}: nothing names them"
            )
        return {
            "recipient_id": recipient_id,
            "exported_at": self._kernel.clock.now().isoformat(),
            "recipient_key": None if self.recipient_key is None else ".".join(self.recipient_key),
            **found,
        }

    def erase(self, recipient_id: str, actor: str) -> Erasure:
        subject = self._subject(recipient_id)
        erasure = NewErasure(new_id("ers"), digest(recipient_id), check_actor(actor))
        done = self._kernel.store.privacy.erase(subject, erasure, self._kernel.clock.now())
        if done is None:
            raise UnknownRecipientError(
                f"no recipient with id {recipient_id!r}: nothing names them, nothing was erased"
            )
        return done

    def erasures(self, limit: int = 100) -> list[Erasure]:
        if isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit <= 1000:
            raise ValidationError(f"limit must be an int from 1 to 1000, got {limit!r}")
        return self._kernel.store.privacy.erasures(limit)
