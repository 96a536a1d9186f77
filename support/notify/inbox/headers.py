"""Headers and bodies as text, whatever charset they claim (or lie about)."""

from __future__ import annotations

from email.header import decode_header, make_header


def header_text(value: object) -> str:
    """A header as readable text: RFC 2047 words decoded in their charset, an unknown or
    lying charset read with replacement characters, never an exception."""
    if value is None:
        return ""
    raw = str(value)
    try:
        chunks = decode_header(raw)
    except Exception:  # noqa: BLE001 - a malformed encoded word: the text as it came
        return _printable(raw)
    try:  # the library's own joining keeps RFC 2047's rules on spaces between words
        return _printable(str(make_header(chunks)))
    except (LookupError, UnicodeError):  # a charset unknown or lying: word by word
        words = [c if isinstance(c, str) else decode(c, charset) for c, charset in chunks]
        return _printable(" ".join(words))


def decode(data: bytes, charset: str | None) -> str:
    try:
        return data.decode(charset or "utf-8", errors="replace")  # undeclared: 8-bit UTF-8 is usual
    except LookupError:  # a charset Python does not know: UTF-8 is the likeliest truth
        return data.decode("utf-8", errors="replace")


def _printable(text: str) -> str:
    """Control characters out (a NUL is refused by PostgreSQL, a CR/LF in a subject is a
    header injection waiting for the day it is written out again)."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
