"""How dates and contacts are shown to people (pages and messages alike)."""

from __future__ import annotations

from datetime import UTC, datetime

from babel.dates import format_date, format_time

# English dates the way most of the world reads them: "5 December 2026", not "December 5".
_DATE_LOCALE = {"en": "en_GB"}


def format_when(value: datetime | str | None, locale: str = "en") -> str:
    """Day, month in words, a 24-hour time, and the zone said out loud (always UTC, so an
    applicant and a reviewer in different places read the same moment)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    babel_locale = _DATE_LOCALE.get(locale, locale)
    day = format_date(value, "long", locale=babel_locale)
    return f"{day}, {format_time(value, 'HH:mm', tzinfo=UTC, locale=babel_locale)} UTC"


def mask_phone(phone: str) -> str:
    """Enough to recognise one's own number on a shared screen, not enough to harvest it."""
    return phone[:3] + "•" * max(len(phone) - 5, 0) + phone[-2:] if len(phone) > 5 else "•••"


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}•••@{domain}" if domain else "•••"


def format_age(start: datetime | None, end: datetime) -> str:
    """A short duration for busy eyes: '12 min', '5 h', '3 d'."""
    if start is None:
        return ""
    seconds = max(0, int((end - start).total_seconds()))
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 3 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"
