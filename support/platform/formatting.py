"""How dates and contacts are shown to people (pages and messages alike)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_date, format_datetime, format_time

NBSP = "\u00a0"
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


# Where CLDR gives a zone a short name, some English locale has it (IST in en_IN, EST in
# en_US, CET in en_GB, AEDT in en_AU); an applicant in Delhi reads "IST" whatever their
# language. Tried after the applicant's own locale.
_ABBREVIATING = ("en_GB", "en_US", "en_IN", "en_AU")
_ABBREVIATION = re.compile(r"[A-Z]{2,5}")
# Russia's zones are said as Moscow's time and the hours from it: "MSK+4" in Novosibirsk,
# "МСК+4" in Russian, as its timetables and its people say them.
_MOSCOW = ZoneInfo("Europe/Moscow")
_MSK = {"ru": "МСК"}


def _zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _offset(delta: timedelta | None) -> str:
    # An ASCII minus: one character outside GSM-7 would make the whole SMS UCS-2, twice
    # the segments (notify/segments.py).
    minutes = int((delta or timedelta(0)).total_seconds() // 60)
    if minutes == 0:
        return "UTC"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{'+' if minutes > 0 else '-'}{hours}" + (f":{rest:02d}" if rest else "")


_SHORT_NAMES: dict[tuple[str, str, timedelta | None], str | None] = {}


def _short_name(moment: datetime, zone: str, locale: str) -> str | None:
    """IST, CET, EDT, MSK+4 at ``moment``; None where no short name is in common use
    (Brazil, China). Remembered per zone, locale and offset (summer's is not winter's)."""
    offset = moment.astimezone(ZoneInfo(zone)).utcoffset()
    key = (zone, locale, offset)
    if key in _SHORT_NAMES:
        return _SHORT_NAMES[key]
    name: str | None = None
    if zone in _RUSSIAN_ZONES:
        moscow = moment.astimezone(_MOSCOW).utcoffset() or timedelta(0)
        hours = int(((offset or timedelta(0)) - moscow).total_seconds() // 3600)
        word = _MSK.get(locale.split("_")[0], "MSK")
        name = word if hours == 0 else f"{word}{'+' if hours > 0 else '-'}{abs(hours)}"
    else:
        for candidate in (locale, *_ABBREVIATING):
            said = format_datetime(moment, "z", tzinfo=ZoneInfo(zone), locale=candidate)
            if said == "GMT" or (_ABBREVIATION.fullmatch(said) and not said.startswith("GMT")):
                name = said
                break
    if len(_SHORT_NAMES) < 4096:
        _SHORT_NAMES[key] = name
    return name


_RUSSIAN_ZONES = frozenset({
    "Europe/Kaliningrad", "Europe/Moscow", "Europe/Kirov", "Europe/Volgograd",
    "Europe/Astrakhan", "Europe/Saratov", "Europe/Ulyanovsk", "Europe/Samara",
    "Asia/Yekaterinburg", "Asia/Omsk", "Asia/Novosibirsk", "Asia/Barnaul", "Asia/Tomsk",
    "Asia/Novokuznetsk", "Asia/Krasnoyarsk", "Asia/Irkutsk", "Asia/Chita", "Asia/Yakutsk",
    "Asia/Khandyga", "Asia/Vladivostok", "Asia/Ust-Nera", "Asia/Magadan", "Asia/Sakhalin",
    "Asia/Srednekolymsk", "Asia/Kamchatka", "Asia/Anadyr",
})


def zone_label(moment: datetime, zone: str, locale: str = "en", short: bool = False) -> str:
    """The zone named as the applicant reads it at ``moment``: "IST", "MSK+4", "CET";
    where none is in common use, the locale's long name in brackets ("(Brasilia Standard
    Time)", "(Бразилия, стандартное время)"), or for an SMS the offset ("UTC-3")."""
    if zone in ("UTC", "Etc/UTC"):
        return "UTC"
    babel_locale = _DATE_LOCALE.get(locale, locale)
    name = _short_name(moment, zone, babel_locale)
    if name is not None:
        return name
    tz = ZoneInfo(zone)
    if short:
        return _offset(moment.astimezone(tz).utcoffset())
    return f"({format_datetime(moment, 'zzzz', tzinfo=tz, locale=babel_locale)})"


def format_applicant(value: datetime | str | None, zone: str | None, locale: str = "en",
                     short: bool = False) -> str:
    """A moment on the applicant's own clock, the zone named: "9 December 2026, 10:40 IST",
    "9 декабря 2026 г., 12:10 МСК+4"; ``short`` for an SMS: "9 Dec, 10:40 IST". Without
    a known zone, UTC as ``format_when`` says it."""
    if value is None or value == "":
        return ""
    tz = _zone(zone)
    if tz is None:
        return format_when(value, locale)
    moment = _aware(value).astimezone(tz)
    babel_locale = _DATE_LOCALE.get(locale, locale)
    day = format_date(moment, "d MMM" if short else "long", locale=babel_locale)
    clock = format_time(moment, "HH:mm", tzinfo=tz, locale=babel_locale)
    label = zone_label(moment, str(zone), locale, short)
    if short:  # an SMS: a no-break space is not GSM-7 (notify/segments.py)
        return f"{day}, {clock} {label}"
    # On a page a date never breaks inside ("до 9 / декабря 2026 г." on a phone); a long
    # zone name in brackets may go to the next line.
    when = f"{day}, {clock}".replace(" ", NBSP)
    return f"{when} {label}" if label.startswith("(") else f"{when}{NBSP}{label}"


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
