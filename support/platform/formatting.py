"""How dates and contacts are shown to people (pages and messages alike)."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

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


def _aware(value: datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def format_local(value: datetime | str | None, zone: tzinfo, locale: str = "en") -> str:
    """The same moment on a clock in ``zone``: "10:40", or "01:10 on 7 December" when the
    day there is not the day in UTC (a reviewer compares it with the UTC line beside it)."""
    if value is None or value == "":
        return ""
    moment = _aware(value)
    local = moment.astimezone(zone)
    babel_locale = _DATE_LOCALE.get(locale, locale)
    clock = format_time(local, "HH:mm", tzinfo=zone, locale=babel_locale)
    if local.date() == moment.astimezone(UTC).date():
        return clock
    return f"{clock} on {format_date(local, 'd MMMM', locale=babel_locale)}"


def format_both(value: datetime | str | None, zone: tzinfo | None, whose: str,
                locale: str = "en") -> str:
    """UTC first (the desk's one clock), then the applicant's: "6 December 2026, 05:10 UTC
    · 10:40 in the applicant's time (Asia/Kolkata, UTC+05:30)". ``whose`` says whose clock
    that is; without a zone, UTC alone."""
    utc = format_when(value, locale)
    if not utc or zone is None:
        return utc
    return f"{utc} · {format_local(value, zone, locale)} {whose}"


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
