"""How many SMS segments a text costs.

GSM-7 carries 160 characters in one segment, 153 per segment when concatenated; any
character outside it (Devanagari, Cyrillic, most emoji) switches the whole message to
UCS-2: 70, or 67 per segment. Characters of the GSM extension table take two septets.
"""

from __future__ import annotations

import math

GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = frozenset("^{}\\[~]|€\f")


def encoding(text: str) -> str:
    return "gsm7" if all(ch in GSM_BASIC or ch in GSM_EXTENSION for ch in text) else "ucs2"


def count(text: str) -> int:
    """Segments needed for ``text`` (0 for an empty text)."""
    if not text:
        return 0
    if encoding(text) == "gsm7":
        units = sum(2 if ch in GSM_EXTENSION else 1 for ch in text)
        single, multi = 160, 153
    else:
        units = sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)  # surrogate pairs
        single, multi = 70, 67
    return 1 if units <= single else math.ceil(units / multi)
