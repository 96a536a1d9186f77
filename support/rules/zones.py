"""The applicant's time zone, as well as we know it, and how sure we are of it.

The form asks no zone, so the country answers: Babel's territory zones (CLDR) give each
country's IANA zones. One zone is certain. A country with several (India has one, Russia
eleven) gets its capital's zone, and the page says so ("capital's time"), because a
reviewer reading "03:10" should not take a guess for the applicant's own clock. Where
every zone of such a country shows the same time at the moment asked about (Germany's
Büsingen, Brazil's capital and its south in most months), there is nothing to hedge.

If an application ever carries the applicant's own zone (``time_zone``, from the browser),
that wins: ``applicant_zone`` takes it first and checks it names a real zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from babel.core import get_global
from babel.dates import get_timezone_location

from support.rules.countries import country_codes, country_name
from support.rules.validation import FieldError

# The capital's zone (IANA) for every country CLDR gives several zones; a test holds this
# against Babel's data, so a country that gains a second zone needs a line here.
CAPITAL_ZONES: dict[str, str] = {
    "AR": "America/Argentina/Buenos_Aires", "AU": "Australia/Sydney",  # Canberra
    "BR": "America/Sao_Paulo",  # Brasília
    "CA": "America/Toronto",  # Ottawa
    "CD": "Africa/Kinshasa", "CL": "America/Santiago", "CN": "Asia/Shanghai",  # Beijing
    "CY": "Asia/Nicosia", "DE": "Europe/Berlin", "EC": "America/Guayaquil",  # Quito
    "ES": "Europe/Madrid", "FM": "Pacific/Pohnpei",  # Palikir
    "GL": "America/Nuuk", "ID": "Asia/Jakarta", "KI": "Pacific/Tarawa",
    "KZ": "Asia/Almaty",  # Astana keeps Almaty's time
    "MH": "Pacific/Majuro", "MN": "Asia/Ulaanbaatar", "MX": "America/Mexico_City",
    "MY": "Asia/Kuala_Lumpur", "NZ": "Pacific/Auckland",  # Wellington
    "PF": "Pacific/Tahiti",  # Papeete
    "PG": "Pacific/Port_Moresby", "PS": "Asia/Hebron",  # the West Bank's zone
    "PT": "Europe/Lisbon", "RU": "Europe/Moscow", "UA": "Europe/Kyiv",
    "US": "America/New_York",  # Washington
    "UZ": "Asia/Tashkent",
}

# Countries we accept whose zone CLDR does not list (rules/countries.py keeps Kosovo).
EXTRA_ZONES: dict[str, str] = {"XK": "Europe/Belgrade"}


@dataclass(frozen=True)
class ApplicantZone:
    """A zone and how it was chosen: ``given`` (the applicant's own), ``country`` (their
    country has one zone), or ``capital`` (their country has several: this is the
    capital's, a guess a page must call one)."""

    name: str
    source: str
    others: tuple[str, ...] = ()  # the country's other zones, when ``source`` is capital

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.name)

    def certain_at(self, moment: datetime) -> bool:
        """True if the applicant's clock shows this zone's time at ``moment`` whichever of
        the country's zones they live in."""
        if self.source != "capital":
            return True
        here = moment.astimezone(self.zone).utcoffset()
        return all(moment.astimezone(ZoneInfo(other)).utcoffset() == here
                   for other in self.others)

    def offset_at(self, moment: datetime) -> str:
        """``UTC+05:30``, ``UTC-03:00``, ``UTC``."""
        delta = moment.astimezone(self.zone).utcoffset() or timedelta(0)
        minutes = int(delta.total_seconds() // 60)
        if minutes == 0:
            return "UTC"
        sign = "+" if minutes > 0 else "-"
        hours, rest = divmod(abs(minutes), 60)
        return f"UTC{sign}{hours:02d}:{rest:02d}"


@lru_cache(maxsize=1)
def _known() -> frozenset[str]:
    return frozenset(available_timezones())


@lru_cache(maxsize=512)
def country_zones(country: str) -> tuple[str, ...]:
    """The country's IANA zones that this machine's tz database holds, sorted; empty for
    an unknown code."""
    code = country.strip().upper()
    if code not in country_codes():
        return ()
    listed = get_global("territory_zones").get(code) or (
        [EXTRA_ZONES[code]] if code in EXTRA_ZONES else [])
    return tuple(sorted(zone for zone in listed if zone in _known()))


def _valid(name: str | None) -> bool:
    if not name or name not in _known():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


@lru_cache(maxsize=512)
def _country_zone(country: str) -> ApplicantZone | None:
    zones = country_zones(country)
    if not zones:
        return None
    if len(zones) == 1:
        return ApplicantZone(zones[0], "country")
    capital = CAPITAL_ZONES.get(country.strip().upper())
    if capital not in zones:
        capital = zones[0]  # a country CLDR split after this table was written
    return ApplicantZone(capital, "capital", tuple(z for z in zones if z != capital))


def applicant_zone(country: str, given: str | None = None) -> ApplicantZone | None:
    """The applicant's own zone if it is a real one, else their country's (see the module's
    docstring); None if neither is known."""
    if given and _valid(given.strip()):
        return ApplicantZone(given.strip(), "given")
    return _country_zone(country or "")


def zone_name(country: str, given: str | None = None) -> str | None:
    """The IANA name of ``applicant_zone``: what a page or a message formats dates in."""
    zone = applicant_zone(country, given)
    return zone.name if zone is not None else None


def described(zone: ApplicantZone, moment: datetime) -> str:
    """Whose time a local clock reading is, said honestly: "in the applicant's time
    (Asia/Kolkata, UTC+05:30)", or, where the country's zones disagree at that moment,
    "in the capital's time (Europe/Moscow, UTC+03:00; the country has several time
    zones)"."""
    offset = zone.offset_at(moment)
    if zone.certain_at(moment):
        return f"in the applicant's time ({zone.name}, {offset})"
    return f"in the capital's time ({zone.name}, {offset}; the country has several time zones)"


# --- the applicant's choice on the form ---------------------------------------------------

# Six months on, the other half of the year: a country whose zones agree in winter may
# part in summer (one region keeps no daylight saving time).
_HALF_YEAR = timedelta(days=182)


def _offset(moment: datetime, zone: str) -> timedelta:
    return moment.astimezone(ZoneInfo(zone)).utcoffset() or timedelta(0)


def several_times(country: str, moment: datetime) -> bool:
    """True if the country's zones show different clocks at ``moment`` or half a year
    from it: only then is the applicant asked theirs (Germany's two zones, Kazakhstan's
    seven since 2024, keep one time and ask nothing)."""
    zones = country_zones(country)
    return len(zones) > 1 and any(
        len({_offset(at, zone) for zone in zones}) > 1 for at in (moment, moment + _HALF_YEAR))


def _utc_offset(delta: timedelta) -> str:
    """``UTC+7``, ``UTC+5:30``, ``UTC−3``, ``UTC``."""
    minutes = int(delta.total_seconds() // 60)
    if minutes == 0:
        return "UTC"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{'+' if minutes > 0 else '−'}{hours}" + (f":{rest:02d}" if rest else "")


def _moscow_offset(delta: timedelta, moment: datetime, locale: str) -> str:
    """``МСК+4`` in Russian, ``MSK+4`` otherwise: how Russia says its zones."""
    word = "МСК" if locale.split("_")[0] == "ru" else "MSK"
    hours = int((delta - _offset(moment, "Europe/Moscow")).total_seconds() // 3600)
    return word if hours == 0 else f"{word}{'+' if hours > 0 else '−'}{abs(hours)}"


def choice_label(zone: str, country: str, locale: str, moment: datetime) -> str:
    """A zone as the form lists it: its city in the applicant's language and its clock at
    ``moment``: "Novosibirsk (UTC+7)", in Russia "Новосибирск (МСК+4, UTC+7)"."""
    city = get_timezone_location(zone, locale=locale, return_city=True)
    delta = _offset(moment, zone)
    clock = _utc_offset(delta)
    if country.strip().upper() == "RU":
        clock = f"{_moscow_offset(delta, moment, locale)}, {clock}"
    return f"{city} ({clock})"


def zone_choices(country: str, locale: str, moment: datetime) -> list[tuple[str, str]]:
    """(IANA name, label) of each of the country's zones, by their clock at ``moment``
    (west to east), then by label; empty where the country keeps one time."""
    if not several_times(country, moment):
        return []
    return [(zone, label) for _, label, zone in sorted(
        (_offset(moment, zone), choice_label(zone, country, locale, moment), zone)
        for zone in country_zones(country))]


def check_zone(country: str, given: str | None, moment: datetime, locale: str = "en") -> str | None:
    """The zone to store for an application from ``country``: the one chosen where the
    country keeps several times (raises ``FieldError`` when none, or another country's,
    was chosen), else the country's own (its capital's where its zones keep one time);
    None for a country we do not know (its own field says so)."""
    zones = country_zones(country)
    if not zones:
        return None
    if not several_times(country, moment):
        return _country_zone(country).name  # type: ignore[union-attr]  # zones is not empty
    chosen = (given or "").strip()
    if chosen in zones:
        return chosen
    raise FieldError("Choose your time zone from the list: %(country)s has several.",
                     country=country_name(country, locale), error_code="time_zone_required")
