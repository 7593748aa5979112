"""How many SMS segments a text costs, and in which encoding it travels.

Carriers bill per segment, and a text that is one character too long (or holds one
character outside the GSM alphabet) can double or triple the cost of a message, so
templates are checked with :func:`sms_info` when they are rendered.

The rules (3GPP TS 23.038 and TS 23.040):

- If every character is in the GSM 03.38 default alphabet or its extension table, the
  text is sent as **GSM-7**: a basic character costs one septet, an extension character
  (``^ { } \\ [ ~ ] | €`` and form feed) costs two (an escape plus the character). One
  segment holds 160 septets; a longer text is split into segments of 153 septets (the
  other seven carry the concatenation header).
- Otherwise the whole text is sent as **UCS-2** (in practice UTF-16): each character costs
  one 16-bit code unit, two for characters outside the Basic Multilingual Plane such as
  most emoji. One segment holds 70 units; a longer text is split into segments of 67.
  Vietnamese with diacritics (``ạ``, ``ệ``, ``ơ``...) is not in the GSM alphabet, so it
  travels as UCS-2.

Splitting never cuts a character in half: an extension character (escape plus character)
or a surrogate pair that does not fit in what is left of a segment starts the next one,
as phones and gateways do. A segment can therefore carry 152 septets or 66 units.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
"""The GSM 03.38 default alphabet, one septet each (the escape code itself excluded)."""

GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
"""Characters of the GSM 03.38 extension table: an escape septet plus one more."""

GSM7_SINGLE = 160
GSM7_PART = 153
UCS2_SINGLE = 70
UCS2_PART = 67


@dataclass(frozen=True)
class SmsInfo:
    """The encoding and size of one SMS text."""

    encoding: Literal["GSM-7", "UCS-2"]
    """``GSM-7`` when every character is in the GSM alphabet, else ``UCS-2``."""
    units: int
    """Septets (GSM-7) or UTF-16 code units (UCS-2) the whole text takes."""
    segments: int
    """Messages the carrier sends (and bills); 0 for an empty text."""


def _costs(text: str) -> tuple[Literal["GSM-7", "UCS-2"], list[int]]:
    """The encoding and, per character, the units it takes in that encoding."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text):
        return "GSM-7", [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    return "UCS-2", [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def _segments(costs: list[int], part: int) -> int:
    """Segments of at most ``part`` units, never splitting one character's units."""
    count, used = 1, 0
    for cost in costs:
        if used + cost > part:
            count, used = count + 1, 0
        used += cost
    return count


def sms_info(text: str) -> SmsInfo:
    """The encoding, size and segment count of ``text`` as an SMS.

    Args:
        text: The message body exactly as it will be sent.

    Returns:
        An :class:`SmsInfo`; an empty text is 0 units in 0 segments.
    """
    encoding, costs = _costs(text)
    units = sum(costs)
    if units == 0:
        return SmsInfo(encoding, 0, 0)
    single, part = (GSM7_SINGLE, GSM7_PART) if encoding == "GSM-7" else (UCS2_SINGLE, UCS2_PART)
    segments = 1 if units <= single else _segments(costs, part)
    return SmsInfo(encoding, units, segments)
